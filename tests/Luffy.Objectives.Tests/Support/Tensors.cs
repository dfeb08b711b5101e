namespace Luffy.Objectives.Tests.Support;

/// <summary>Conversions between host arrays (the independent double-precision reference) and tensors.</summary>
internal static class Tensors
{
    public static Tensor From(double[,] values, ScalarType dtype, bool requiresGrad = false)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var flat = new double[rows * cols];
        Buffer.BlockCopy(values, 0, flat, 0, flat.Length * sizeof(double));
        return tensor(flat, new long[] { rows, cols }, dtype: ScalarType.Float64).to_type(dtype).requires_grad_(requiresGrad);
    }

    public static Tensor From(double[] values, ScalarType dtype) => tensor(values, dtype: ScalarType.Float64).to_type(dtype);

    public static Tensor Mask(bool[,] values)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var flat = new bool[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                flat[i * cols + j] = values[i, j];
            }
        }
        return tensor(flat, new long[] { rows, cols });
    }

    public static Tensor Ids(long[] values) => tensor(values, dtype: ScalarType.Int64);

    public static double[] ToArray(Tensor t) => t.detach().to_type(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();

    public static double[,] ToMatrix(Tensor t)
    {
        double[] flat = ToArray(t);
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var result = new double[rows, cols];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }

    public static double Scalar(Tensor t) => t.detach().to_type(ScalarType.Float64).cpu().item<double>();

    /// <summary>Relative tolerance of the contract: 1e-5 in float32, 1e-10 in float64.</summary>
    public static double Tolerance(ScalarType dtype) => dtype == ScalarType.Float64 ? 1e-10 : 1e-5;
}
