namespace Luffy.Objectives.Tests.Batching;

public class GroupPlannerTests
{
    private static readonly OffPolicyTrace TraceA = new([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    private static readonly OffPolicyTrace TraceB = new([30, 31, 32]);

    [Fact]
    public void Default_plan_is_luffys_main_run_seven_rollouts_and_one_full_trace()
    {
        PromptPlan plan = new GroupPlanner().Plan(5, [TraceA]);
        Assert.Equal(8, plan.Samples.Count);
        Assert.All(plan.Samples.Take(7), s => Assert.Equal(SampleKind.OnPolicy, s.Kind));
        SamplePlan carrier = plan.Samples[7];
        Assert.Equal(SampleKind.FullTrace, carrier.Kind);
        Assert.Equal(1.0, carrier.PrefixRatio);
        Assert.Equal(TraceA.Tokens, carrier.ForcedPrefix);
        Assert.False(carrier.NeedsGeneration);
        Assert.All(plan.Samples.Take(7), s => Assert.True(s.NeedsGeneration));
    }

    [Fact]
    public void Carriers_cycle_through_the_prompts_traces_and_force_floor_r_times_L_tokens()
    {
        var planner = new GroupPlanner(new GroupPlanOptions { SamplesPerPrompt = 4, TraceCarriers = 3, Strategy = new FixedPrefixStrategy(0, 0.9) });
        PromptPlan plan = planner.Plan(1, [TraceA, TraceB]);
        Assert.Equal(SampleKind.OnPolicy, plan.Samples[0].Kind);
        // fixed: r_i = 0.9 * (i + 1) / 3 = 0.3, 0.6, 0.9
        Assert.Equal(new[] { 0.3, 0.6, 0.9 }, plan.Samples.Skip(1).Select(s => Math.Round(s.PrefixRatio, 12)));
        Assert.Equal(TraceA.Tokens.Take(3), plan.Samples[1].ForcedPrefix);   // floor(0.3 * 10)
        Assert.Equal(TraceB.Tokens.Take(1), plan.Samples[2].ForcedPrefix);   // floor(0.6 * 3)
        Assert.Equal(TraceA.Tokens.Take(9), plan.Samples[3].ForcedPrefix);   // floor(0.9 * 10)
        Assert.All(plan.Samples.Skip(1), s => Assert.Equal(SampleKind.PrefixContinuation, s.Kind));
    }

    [Fact]
    public void A_prompt_without_traces_gets_an_on_policy_group()
    {
        PromptPlan plan = new GroupPlanner().Plan(1, []);
        Assert.All(plan.Samples, s => Assert.Equal(SampleKind.OnPolicy, s.Kind));
    }

    [Fact]
    public void Dropped_traces_become_on_policy_rollouts_and_are_flagged()
    {
        var planner = new GroupPlanner(new GroupPlanOptions { SamplesPerPrompt = 2, TraceCarriers = 2, TraceDropRate = 1 });
        PromptPlan plan = planner.Plan(1, [TraceA]);
        Assert.All(plan.Samples, s => Assert.True(s.Kind == SampleKind.OnPolicy && s.TraceDropped));
        var samples = plan.Samples.Select(s => SampleInput.FromPlan(s, [9, 2], reward: 0)).ToArray();
        using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [2] }).Build([new PromptInput(1, [5], samples)]);
        Assert.Equal(2, batch.Statistics.DroppedTraces);
    }

    public static IEnumerable<IPrefixRatioStrategy> Strategies =>
    [
        new FullTraceStrategy(),
        new UniformPrefixStrategy(0.2, 0.7),
        new FixedPrefixStrategy(0.1, 0.8),
        new LinearDecayPrefixStrategy(50),
        new LinearMaxPrefixStrategy(20, 0.05, 0.9),
        new ReverseLinearPrefixStrategy(30, 0.6),
    ];

    [Property(MaxTest = 200)]
    public Property Strategy_ratios_stay_within_their_bounds() =>
        Prop.ForAll(Gen.Elements(Strategies.ToArray()).ToArbitrary(), Gen.Choose(1, 8).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(),
            (strategy, k, step) =>
            {
                IReadOnlyList<double> ratios = strategy.Ratios(k, step, new Random(step * 31 + k));
                return ratios.Count == k && ratios.All(r => r >= strategy.MinRatio && r <= strategy.MaxRatio);
            });

    [Property(MaxTest = 100)]
    public Property A_seeded_plan_is_deterministic_and_independent_of_planning_order() =>
        Prop.ForAll(Gen.Choose(0, 10_000).ToArbitrary(), Gen.Choose(0, 500).ToArbitrary(), (seed, step) =>
        {
            var options = new GroupPlanOptions { SamplesPerPrompt = 6, TraceCarriers = 3, Strategy = new UniformPrefixStrategy(), TraceDropRate = 0.3, Seed = seed };
            var first = new GroupPlanner(options);
            var second = new GroupPlanner(options);
            PromptPlan a1 = first.Plan(1, [TraceA], step), a2 = first.Plan(2, [TraceA], step);
            PromptPlan b2 = second.Plan(2, [TraceA], step), b1 = second.Plan(1, [TraceA], step);
            return Same(a1, b1) && Same(a2, b2);
        });

    private static bool Same(PromptPlan a, PromptPlan b) =>
        a.Samples.Zip(b.Samples).All(p => p.First.Kind == p.Second.Kind && p.First.PrefixRatio == p.Second.PrefixRatio && p.First.ForcedPrefix.SequenceEqual(p.Second.ForcedPrefix) && p.First.TraceDropped == p.Second.TraceDropped);

    [Fact]
    public void Different_seeds_give_different_random_plans()
    {
        var a = new GroupPlanner(new GroupPlanOptions { Strategy = new UniformPrefixStrategy(), TraceCarriers = 4, Seed = 1 }).Plan(1, [TraceA]);
        var b = new GroupPlanner(new GroupPlanOptions { Strategy = new UniformPrefixStrategy(), TraceCarriers = 4, Seed = 2 }).Plan(1, [TraceA]);
        Assert.False(Same(a, b));
    }

    [Fact]
    public void Schedules_follow_their_formulas()
    {
        var random = new Random(0);
        Assert.Equal(0.8, new LinearDecayPrefixStrategy(100).Ratios(1, 0, random)[0]);
        Assert.Equal(0.4, new LinearDecayPrefixStrategy(100).Ratios(1, 50, random)[0], 12);
        Assert.Equal(0.0, new LinearDecayPrefixStrategy(100).Ratios(1, 500, random)[0]);
        Assert.Equal(0.2, new ReverseLinearPrefixStrategy(100).Ratios(1, 25, random)[0], 12);
        Assert.Equal(1.0, new LinearMaxPrefixStrategy(10).UpperBound(9));
        Assert.Equal(0.7, new LinearMaxPrefixStrategy(10).UpperBound(35), 12);
        Assert.Equal(0.1, new LinearMaxPrefixStrategy(10).UpperBound(5000), 12);
    }

    [Theory]
    [InlineData(nameof(GroupPlanOptions.SamplesPerPrompt))]
    [InlineData(nameof(GroupPlanOptions.TraceCarriers))]
    [InlineData(nameof(GroupPlanOptions.TraceDropRate))]
    public void Out_of_range_options_are_rejected(string option)
    {
        GroupPlanOptions bad = option switch
        {
            nameof(GroupPlanOptions.SamplesPerPrompt) => new() { SamplesPerPrompt = 0, TraceCarriers = 0 },
            nameof(GroupPlanOptions.TraceCarriers) => new() { SamplesPerPrompt = 4, TraceCarriers = 5 },
            _ => new() { TraceDropRate = 1.5 },
        };
        Assert.Equal(option, Assert.Throws<ArgumentOutOfRangeException>(() => new GroupPlanner(bad)).ParamName);
    }

    [Fact]
    public void Strategy_ranges_are_validated()
    {
        Assert.Equal("max", Assert.Throws<ArgumentOutOfRangeException>(() => new UniformPrefixStrategy(0.5, 0.2)).ParamName);
        Assert.Equal("min", Assert.Throws<ArgumentOutOfRangeException>(() => new FixedPrefixStrategy(-0.1, 0.2)).ParamName);
        Assert.Equal("steps", Assert.Throws<ArgumentOutOfRangeException>(() => new LinearDecayPrefixStrategy(0)).ParamName);
    }

    [Fact]
    public void Empty_trace_is_rejected_naming_the_group() =>
        Assert.Contains("group 9: trace 0 is empty", Assert.Throws<ArgumentException>(() => new GroupPlanner().Plan(9, [new OffPolicyTrace([])])).Message);

    public static TheoryData<double> BadRatios() => [double.NaN, 1.7, -0.2, double.PositiveInfinity];

    [Theory]
    [MemberData(nameof(BadRatios))]
    public void A_strategy_returning_a_ratio_outside_zero_one_is_named(double ratio)
    {
        // NaN became a prefix of 0 and 1.7 a full trace, silently
        var planner = new GroupPlanner(new GroupPlanOptions { Strategy = new ConstantStrategy(ratio) });
        var ex = Assert.Throws<InvalidOperationException>(() => planner.Plan(3, [TraceA], step: 5));
        Assert.Contains($"strategy constant returned prefix ratio {ratio}", ex.Message);
    }

    [Fact]
    public void Every_built_in_strategy_names_a_bad_carrier_count()
    {
        // Enumerable.Range named its own parameter, "count", which the caller never wrote
        IPrefixRatioStrategy[] strategies = [new UniformPrefixStrategy(), new FixedPrefixStrategy(0, 1), new FullTraceStrategy(), new LinearDecayPrefixStrategy(10), new ReverseLinearPrefixStrategy(10), new LinearMaxPrefixStrategy(10)];
        foreach (IPrefixRatioStrategy strategy in strategies)
        {
            foreach (int carriers in new[] { -1, 0 })
            {
                var ex = Assert.Throws<ArgumentOutOfRangeException>(() => strategy.Ratios(carriers, 0, new Random(1)));
                Assert.Equal("carriers", ex.ParamName);
            }
        }
    }

    private sealed class ConstantStrategy(double ratio) : IPrefixRatioStrategy
    {
        public string Name => "constant";

        public double MinRatio => 0;

        public double MaxRatio => 1;

        public IReadOnlyList<double> Ratios(int carriers, long step, Random random) => Enumerable.Repeat(ratio, carriers).ToArray();
    }
}
