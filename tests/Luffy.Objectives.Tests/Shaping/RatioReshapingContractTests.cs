using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Shaping;

/// <summary>What every on-policy ratio must satisfy; each ratio type's test class inherits it.</summary>
public abstract class RatioReshapingContractTests
{
    protected abstract IRatioReshaping Create();

    // log-ratios from −30 to 30 (the ±20 clamp is crossed both ways), log-probs from −60 to 0
    private static readonly (double Lp, double Old)[] Grid =
        [(-60, -30), (-25, -2), (-10, -9.5), (-3, -3), (-1, -1.4), (-0.5, -0.2), (-0.1, -3), (0, -30), (-1e-6, -1e-3), (-40, -40)];

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void Values_and_autograd_gradients_match_the_double_formula(string dtype)
    {
        ScalarType type = dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        IRatioReshaping ratio = Create();
        Tensor logp = Tensors.From(Grid.Select(g => g.Lp).ToArray(), type).requires_grad_(true);
        Tensor old = Tensors.From(Grid.Select(g => g.Old).ToArray(), type);
        Tensor r = ratio.Apply(logp, old);
        r.sum().backward();
        double[] values = Tensors.ToArray(r), grads = Tensors.ToArray(logp.grad!);
        for (int i = 0; i < Grid.Length; i++)
        {
            double lp = type == ScalarType.Float32 ? (float)Grid[i].Lp : Grid[i].Lp, o = type == ScalarType.Float32 ? (float)Grid[i].Old : Grid[i].Old;
            (double value, double derivative) = ReferenceLoss.Ratio(ratio, lp, o);
            // e^20 ≈ 5e8: float32 keeps ~7 digits of it, so the tolerance is relative to the value
            double rtol = Tensors.Tolerance(type) * (type == ScalarType.Float32 ? 4 : 1);
            AssertClose.Scalar(value, values[i], rtol, 1e-30, $"r at ({lp}, {o})");
            AssertClose.Scalar(derivative, grads[i], rtol, 1e-30, $"dr/dlogp at ({lp}, {o})");
            AssertClose.Scalar(value, ratio.Evaluate(lp, o), 1e-14, 1e-300, $"Evaluate at ({lp}, {o})");
        }
    }

    [Theory]
    [InlineData("float32", false)]
    [InlineData("float64", false)]
    [InlineData("float32", true)]
    public void Where_the_clamp_clamps_nothing_skipping_it_changes_no_bit_of_values_or_gradients(string dtype, bool oneBeyond)
    {
        // log-ratios in [−20, 20] including the bounds themselves (the clamp's backward passes them); with one token
        // beyond, the clamp runs
        ScalarType type = dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        var random = new Random(11);
        double[] lp = [.. Enumerable.Range(0, 300).Select(_ => -random.NextDouble() * 30)];
        double[] old = [.. lp.Select((v, i) => i == 0 ? v - 20 : i == 1 ? v + 20 : v - (random.NextDouble() * 40 - 20))];
        if (oneBeyond)
        {
            old[2] = lp[2] - 25;
        }
        (double[] Values, double[] Gradients) Run(bool scanned)
        {
            using var scope = NewDisposeScope();
            Tensor logp = Tensors.From(lp, type).requires_grad_(true);
            HostScan.DisabledOnThisThread = !scanned;
            try
            {
                Tensor r = Create().Apply(logp, Tensors.From(old, type));
                (r * Tensors.From([.. lp.Select((_, i) => 1.0 + i % 7)], type)).sum().backward();
                return (Tensors.ToArray(r), Tensors.ToArray(logp.grad!));
            }
            finally
            {
                HostScan.DisabledOnThisThread = false;
            }
        }
        (double[] values, double[] gradients) = Run(scanned: true);
        (double[] clampedValues, double[] clampedGradients) = Run(scanned: false);
        Assert.Equal(clampedValues, values);
        Assert.Equal(clampedGradients, gradients);
        Assert.True(gradients[0] != 0 && gradients[1] != 0, "the bounds ±20 themselves pass the gradient");
        // beyond the clamp (ρ's ±20) the reference derivative is 0; ratios without that clamp keep theirs
        double Round(double v) => type == ScalarType.Float32 ? (float)v : v;
        Assert.Equal(ReferenceLoss.Ratio(Create(), Round(lp[2]), Round(old[2])).Derivative == 0, gradients[2] == 0);
    }

    [Fact]
    public void Apply_returns_a_fresh_tensor_and_never_a_gradient_to_the_old_log_probs()
    {
        Tensor logp = -rand(3, 4, dtype: ScalarType.Float64);
        Tensor old = (-rand(3, 4, dtype: ScalarType.Float64)).requires_grad_(true);
        Tensor r = Create().Apply(logp.requires_grad_(true), old);
        Assert.Equal(new long[] { 3, 4 }, r.shape);
        r.sum().backward();
        Assert.True(old.grad is null || Tensors.ToArray(old.grad).All(g => g == 0), "the old log-probs are constants of the ratio");
    }

    [Fact]
    public void A_shape_mismatch_is_rejected() =>
        Assert.Contains("oldLogProbs has shape [2, 5] but logProbs has shape [2, 4]", Assert.Throws<ArgumentException>(() => Create().Apply(zeros(2, 4), zeros(2, 5))).Message);

    [Fact]
    public void The_name_says_what_it_is() => Assert.False(string.IsNullOrWhiteSpace(Create().Name));
}
