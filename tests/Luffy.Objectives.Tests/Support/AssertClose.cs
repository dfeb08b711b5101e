namespace Luffy.Objectives.Tests.Support;

internal static class AssertClose
{
    /// <summary>|actual − expected| ≤ rtol·max(|expected|, floor).</summary>
    public static void Scalar(double expected, double actual, double rtol, double floor = 1.0, string what = "value")
    {
        double bound = rtol * Math.Max(Math.Abs(expected), floor);
        Assert.True(Math.Abs(actual - expected) <= bound,
            $"{what}: expected {expected:R}, actual {actual:R}, |diff| {Math.Abs(actual - expected):E3} > {bound:E3}");
    }

    /// <summary>Element-wise, relative to the larger of the element and the largest element's magnitude (the array's scale).</summary>
    public static void Array(double[] expected, double[] actual, double rtol, string what = "array")
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            double bound = rtol * Math.Max(Math.Max(Math.Abs(expected[i]), scale), 1e-300);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound,
                $"{what}[{i}]: expected {expected[i]:R}, actual {actual[i]:R}, |diff| {Math.Abs(actual[i] - expected[i]):E3} > {bound:E3}");
        }
    }

    public static void Matrix(double[,] expected, double[,] actual, double rtol, string what = "matrix")
    {
        Array(Flatten(expected), Flatten(actual), rtol, what);
    }

    public static double[] Flatten(double[,] m)
    {
        var flat = new double[m.Length];
        Buffer.BlockCopy(m, 0, flat, 0, flat.Length * sizeof(double));
        return flat;
    }
}
