namespace Luffy.Objectives.Tests.Losses;

public class PolicyLossMetricsTests
{
    [Fact]
    public void Combining_nothing_is_rejected() =>
        Assert.Contains("parts is empty", Assert.Throws<ArgumentException>(() => PolicyLossMetrics.Combine([])).Message);

    [Fact]
    public void Combined_means_weigh_each_micro_batch_by_its_token_count()
    {
        // one micro-batch with 3 on-policy tokens of loss 1, one with 1 token of loss 5: the batch mean is 2, not 3
        PolicyLossMetrics Of(double loss, int tokens)
        {
            Tensor ones3 = full(1, tokens, loss, dtype: ScalarType.Float64);
            using PolicyLossResult r = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = new PolicyGradientObjective() }).Compute(new PolicyLossInputs
            {
                LogProbs = -ones3.clone() / loss, OldLogProbs = zeros(1, tokens, dtype: ScalarType.Float64), Advantages = full(1, tokens, loss, dtype: ScalarType.Float64), ResponseMask = ones(1, tokens, dtype: ScalarType.Bool),
            });
            return r.Metrics;
        }
        PolicyLossMetrics combined = PolicyLossMetrics.Combine([Of(1, 3), Of(5, 1)]);
        Assert.Equal(2.0, combined.OnPolicyLoss, 14);
        Assert.Equal(4, combined.OnPolicyTokens);
        Assert.Equal(1.0 + 5.0, combined.Loss, 14); // each used its own normalizer here; losses add
    }

    [Fact]
    public void Named_values_carry_the_reference_names()
    {
        (PolicyLossInputs inputs, _, _) = MixedBatch.Random(1).ToInputs(ScalarType.Float32, Extras.None);
        using PolicyLossResult r = new MixedPolicyLoss().Compute(inputs);
        string[] names = r.Metrics.ToNamedValues().Select(p => p.Key).ToArray();
        Assert.Contains("pg_clipfrac", names);
        Assert.Contains("pg_clipfrac_lower", names);
        Assert.Contains("off_ratio_mean", names);
        Assert.Equal(names.Length, names.Distinct().Count());
    }
}
