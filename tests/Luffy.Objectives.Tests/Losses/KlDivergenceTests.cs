namespace Luffy.Objectives.Tests.Losses;

public class KlDivergenceTests
{
    [Theory]
    [InlineData(KlEstimator.K1)]
    [InlineData(KlEstimator.Absolute)]
    [InlineData(KlEstimator.K2)]
    [InlineData(KlEstimator.K3)]
    public void Values_and_gradients_match_the_formulas(KlEstimator estimator)
    {
        double[] lp = [-0.1, -2.0, -5.0, -0.5, -20.0];
        double[] reference = [-0.3, -1.0, -5.5, -0.5, -0.1];
        Tensor logp = tensor(lp).requires_grad_(true);
        Tensor kl = KlDivergence.Estimate(logp, tensor(reference), estimator);
        kl.sum().backward();
        double[] values = Tensors.ToArray(kl), grads = Tensors.ToArray(logp.grad!);
        for (int i = 0; i < lp.Length; i++)
        {
            (double v, double g) = ReferenceLoss.Kl(lp[i], reference[i], estimator);
            Assert.Equal(v, values[i], 12);
            Assert.Equal(g, grads[i], 12);
        }
    }

    [Fact]
    public void K3_is_clamped_at_ten()
    {
        Tensor kl = KlDivergence.Estimate(tensor(new[] { -30.0 }), tensor(new[] { 0.0 }));
        Assert.Equal(10.0, Tensors.ToArray(kl)[0]);
    }

    [Fact]
    public void Mismatched_shapes_are_rejected() =>
        Assert.Contains("referenceLogProbs has shape [3] but logProbs has shape [2]", Assert.Throws<ArgumentException>(() => KlDivergence.Estimate(zeros(2), zeros(3))).Message);
}
