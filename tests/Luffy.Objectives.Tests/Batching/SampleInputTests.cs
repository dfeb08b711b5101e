namespace Luffy.Objectives.Tests.Batching;

public class SampleInputTests
{
    private static readonly OffPolicyTrace Trace = new([20, 21, 22]);

    [Fact]
    public void An_undefined_finish_reason_is_rejected_by_every_factory()
    {
        // (FinishReason)9 was accepted, and counted as a stop at EOS
        Assert.Equal("finish", Assert.Throws<ArgumentOutOfRangeException>(() => SampleInput.OnPolicy([10], finish: (FinishReason)9)).ParamName);
        Assert.Equal("finish", Assert.Throws<ArgumentOutOfRangeException>(() => SampleInput.PrefixContinuation(Trace, 1, [10], finish: (FinishReason)9)).ParamName);
        var plan = new SamplePlan(0, SampleKind.OnPolicy, null, 0, [], false);
        Assert.Equal("finish", Assert.Throws<ArgumentOutOfRangeException>(() => SampleInput.FromPlan(plan, [10], finish: (FinishReason)9)).ParamName);
    }

    [Fact]
    public void A_plan_of_an_undefined_kind_is_rejected()
    {
        // (SampleKind)7 became an on-policy rollout
        var plan = new SamplePlan(3, (SampleKind)7, Trace, 0.5, [20], false);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => SampleInput.FromPlan(plan, [10]));
        Assert.Equal("plan", ex.ParamName);
        Assert.Contains("plan 3 has kind 7", ex.Message);
    }

    [Fact]
    public void Every_kind_of_plan_becomes_its_sample()
    {
        Assert.Equal(SampleKind.OnPolicy, SampleInput.FromPlan(new SamplePlan(0, SampleKind.OnPolicy, null, 0, [], false), [10]).Kind);
        Assert.Equal(SampleKind.FullTrace, SampleInput.FromPlan(new SamplePlan(1, SampleKind.FullTrace, Trace, 1, [20, 21, 22], false), []).Kind);
        SampleInput prefix = SampleInput.FromPlan(new SamplePlan(2, SampleKind.PrefixContinuation, Trace, 0.5, [20], false), [10], finish: FinishReason.Length);
        Assert.Equal((SampleKind.PrefixContinuation, 1, FinishReason.Length), (prefix.Kind, prefix.PrefixLength, prefix.Finish));
    }
}
