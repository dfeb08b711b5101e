namespace Luffy.Objectives.Tests.Shaping;

/// <summary>What every shaping function must satisfy; each shaping type's test class inherits it.</summary>
public abstract class ShapingContractTests
{
    protected abstract IShapingFunction Create();

    private static readonly double[] Grid = [-100, -80, -50, -20, -10, -5, -2.5, -1, -0.5, -0.1, -1e-3, -1e-7, 0];

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void Values_and_autograd_gradients_match_the_double_formula_on_minus_100_to_0(string dtype)
    {
        ScalarType type = dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        IShapingFunction shaping = Create();
        Tensor logp = Tensors.From(Grid, type).requires_grad_(true);
        Tensor shaped = shaping.Apply(logp);
        shaped.sum().backward();

        double[] values = Tensors.ToArray(shaped);
        double[] grads = Tensors.ToArray(logp.grad!);
        ShapingFormula formula = Assert.IsAssignableFrom<IBuiltInShaping>(shaping).Formula; // what the fused kernel runs
        double rtol = Tensors.Tolerance(type);
        for (int i = 0; i < Grid.Length; i++)
        {
            // the float32 grid point itself is rounded; compare against the formula at that rounded point
            double lp = type == ScalarType.Float32 ? (float)Grid[i] : Grid[i];
            (double f, double df) = ReferenceLoss.Shape(shaping, lp);
            Assert.True(double.IsFinite(values[i]) && double.IsFinite(grads[i]), $"non-finite at log p = {lp}");
            AssertClose.Scalar(f, values[i], rtol, floor: 1e-30, what: $"f at {lp}");
            AssertClose.Scalar(df, grads[i], rtol, floor: 1e-30, what: $"autograd df at {lp}");
            (double formulaValue, double formulaDerivative) = formula.ValueAndDerivative(lp);
            AssertClose.Scalar(f, formulaValue, 1e-14, floor: 1e-300, what: $"the formula's f at {lp}");
            AssertClose.Scalar(df, formulaDerivative, 1e-14, floor: 1e-300, what: $"the formula's df at {lp}");
        }
    }

    [Fact]
    public void Apply_returns_a_fresh_tensor_of_the_same_shape_and_leaves_the_input_alone()
    {
        Tensor logp = full(new long[] { 3, 4 }, -0.7, dtype: ScalarType.Float32);
        Tensor shaped = Create().Apply(logp);
        Assert.Equal(new long[] { 3, 4 }, shaped.shape);
        Assert.False(logp.IsInvalid);
        Assert.Equal(-0.7f, logp[0, 0].item<float>());
    }

    [Fact]
    public void Integer_log_probs_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Create().Apply(zeros(3, dtype: ScalarType.Int64)));
        Assert.Equal("logProbs", ex.ParamName);
    }

    [Fact]
    public void Name_is_not_empty() => Assert.False(string.IsNullOrWhiteSpace(Create().Name));
}
