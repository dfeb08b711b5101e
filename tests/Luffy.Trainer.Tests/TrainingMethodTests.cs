using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Advantages;
using Luffy.Objectives.Shaping;
using Luffy.Trainer.Training;

namespace Luffy.Trainer.Tests;

/// <summary>The methods differ only where the README says they do: shaping, SFT term, estimator, planner, phase.</summary>
public class TrainingMethodTests
{
    private static readonly TrainerOptions Options = new() { Gamma = 0.2, SftLossCoefficient = 0.5, SamplesPerPrompt = 8, TracesPerPrompt = 1 };

    [Fact]
    public void Every_method_is_found_by_its_name_and_a_typo_gets_a_suggestion()
    {
        Assert.All(TrainingMethod.All, m => Assert.Same(m, TrainingMethod.Parse(m.Name)));
        Assert.Equal(7, TrainingMethod.All.Select(m => m.Name).Distinct().Count());
        var ex = Assert.Throws<OptionException>(() => TrainingMethod.Parse("rl-stf"));
        Assert.Equal("--mode 'rl-stf' is not valid; expected luffy, luffy-no-shaping, rl-sft, grpo, exgrpo, sft, sft-grpo. Did you mean rl-sft?", ex.Message);
    }

    [Fact]
    public void Exgrpo_clips_during_the_warm_up_and_not_after_and_replays_one_member_without_external_traces()
    {
        TrainingMethod exgrpo = TrainingMethod.ExGrpo;
        Assert.True(exgrpo.UsesExperience && exgrpo.Rollouts && !exgrpo.CarriesTraces && !exgrpo.UsesGamma);
        PolicyLossOptions warmUp = exgrpo.Loss(Options).Options, replay = exgrpo.Loss(Options, replayStarted: true).Options;
        Assert.Equal(new ClippedSurrogate(), warmUp.OnPolicy);
        Assert.Equal(ClippedSurrogate.Unclipped, replay.OnPolicy);
        Assert.Equal(new RegularizedShaping(0.1), replay.Shaping); // the reference's γ, not the trainer's --gamma (0.2 here)
        Assert.Equal(warmUp with { OnPolicy = replay.OnPolicy }, replay);
        Assert.Equal(Options.MaxResponseLength, replay.AggregationConstant);
        Assert.Equal(1, exgrpo.Planner(Options).Options.TraceCarriers);
        Assert.IsType<FullTraceStrategy>(exgrpo.Planner(Options).Options.Strategy);
        var advantages = Assert.IsType<GroupNormalizedAdvantage>(exgrpo.Estimator(Options));
        Assert.False(advantages.NormalizeByStd);
        Assert.False(TrainingMethod.Grpo.UsesExperience);
        Assert.Equal(TrainingMethod.Grpo.Loss(Options).Options, TrainingMethod.Grpo.Loss(Options, replayStarted: true).Options);
    }

    [Fact]
    public void Luffy_shapes_trace_tokens_and_the_ablation_does_not()
    {
        var shaping = Assert.IsType<RegularizedShaping>(TrainingMethod.Luffy.Loss(Options).Options.Shaping);
        Assert.Equal(0.2, shaping.Gamma);
        Assert.IsType<IdentityShaping>(TrainingMethod.LuffyNoShaping.Loss(Options).Options.Shaping);
        // everything else is the same loss
        var same = new IdentityShaping();
        Assert.Equal(TrainingMethod.Luffy.Loss(Options).Options with { Shaping = same }, TrainingMethod.LuffyNoShaping.Loss(Options).Options with { Shaping = same });
    }

    [Fact]
    public void Rl_with_sft_adds_the_sft_term_and_takes_group_statistics_from_the_rollouts()
    {
        Assert.Equal(0.5, TrainingMethod.RlWithSftLoss.Loss(Options).Options.SftCoefficient);
        Assert.Equal(0.0, TrainingMethod.Luffy.Loss(Options).Options.SftCoefficient);
        Assert.IsType<OnPolicyGroupNormalizedAdvantage>(TrainingMethod.RlWithSftLoss.Estimator(Options));
        Assert.IsType<GroupNormalizedAdvantage>(TrainingMethod.Luffy.Estimator(Options));
        Assert.IsType<GroupNormalizedAdvantage>(TrainingMethod.Grpo.Estimator(Options));
        Assert.Null(TrainingMethod.Sft.Estimator(Options));
    }

    [Theory]
    [InlineData("luffy", 8, 1)]
    [InlineData("luffy-no-shaping", 8, 1)]
    [InlineData("rl-sft", 8, 1)]
    [InlineData("grpo", 8, 0)]
    [InlineData("sft", 1, 1)]
    public void Groups_hold_the_same_number_of_samples_and_traces_where_the_method_uses_them(string name, int samples, int traces)
    {
        var plan = TrainingMethod.Parse(name).Planner(Options).Options;
        Assert.Equal((samples, traces), (plan.SamplesPerPrompt, plan.TraceCarriers));
    }

    [Fact]
    public void Sft_then_grpo_is_sft_for_the_first_half_of_the_steps_then_grpo()
    {
        Assert.Equal(["sft", "sft", "sft", "sft", "sft", "grpo", "grpo", "grpo", "grpo", "grpo"],
            Enumerable.Range(1, 10).Select(step => TrainingMethod.SftThenGrpo.At(step, 10).Name));
        Assert.Same(TrainingMethod.Luffy, TrainingMethod.Luffy.At(7, 10));
    }
}
