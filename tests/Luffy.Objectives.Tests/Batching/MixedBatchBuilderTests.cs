global using Luffy.Objectives.Batching;

namespace Luffy.Objectives.Tests.Batching;

public class MixedBatchBuilderTests
{
    private const int Eos = 2, Pad = 0;
    private static readonly BatchBuilderOptions Options = new() { EosTokenIds = [Eos], PadTokenId = Pad, MaxResponseLength = 4, VocabularySize = 64 };

    private static long[][] Rows(Tensor t) => Enumerable.Range(0, (int)t.shape[0]).Select(i => t[i].to_type(ScalarType.Int64).data<long>().ToArray()).ToArray();

    [Fact]
    public void A_replayed_trajectory_keeps_its_own_EOS_and_log_probs_and_is_counted()
    {
        // a stored trajectory ends with its EOS and has a log-prob for it: no second EOS (the trace of 4 tokens fits
        // MaxResponseLength 4, where an appended EOS would have made 5 and been cut), every token's stored log-prob reaches TraceLogProbs
        var replayed = new OffPolicyTrace([20, 21, 22, Eos], [-0.5f, -0.25f, -1f, -0.125f], TraceSource.Experience);
        var prompts = new[]
        {
            new PromptInput(1, [5], [SampleInput.OnPolicy([9, Eos], reward: 0), SampleInput.FullTrace(replayed, reward: 1)]),
            new PromptInput(2, [5], [SampleInput.OnPolicy([9, Eos], reward: 1), SampleInput.FullTrace(new OffPolicyTrace([20]), reward: 1)]),
        };
        using TrainingBatch batch = new MixedBatchBuilder(Options).Build(prompts);
        Assert.Equal(new long[] { 5, 20, 21, 22, Eos }, Rows(batch.InputIds)[1]);
        Assert.Equal(new long[] { 5, 20, Eos, Pad, Pad }, Rows(batch.InputIds)[3]);
        Assert.Equal(0, batch.Statistics.TruncatedTraces);
        Assert.Equal(1, batch.Statistics.ReplayedSamples);
        Assert.Equal(2, batch.Statistics.OffSolved); // a replayed member is a carrier like a demonstration
        using Tensor stored = batch.TraceLogProbs();
        Assert.Equal(new float[] { -0.5f, -0.25f, -1f, -0.125f }, stored[1].data<float>().ToArray());
        Assert.Equal(new float[] { 0, 0, 0, 0 }, stored[3].data<float>().ToArray()); // a demonstration without log-probs: 0 (w = p)
    }

    [Fact]
    public void A_trace_with_an_unknown_source_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(Options).Build(
            [new PromptInput(1, [5], [SampleInput.FullTrace(new OffPolicyTrace([20], null, (TraceSource)7), reward: 1)])]));
        Assert.Contains("the trace's source is 7", ex.Message);
    }

    [Fact]
    public void Hand_made_groups_give_the_exact_expected_tensors()
    {
        var trace = new OffPolicyTrace([20, 21, 22, 23], [-0.5f, -0.25f, -1f, -2f]);
        var prompts = new[]
        {
            new PromptInput(7, [5, 6, 7],
            [
                SampleInput.OnPolicy([10, Eos, 11], [-1f, -2f, -3f], reward: 0),                    // EOS in the middle
                SampleInput.OnPolicy([10, 11, 12, 13, 14], finish: FinishReason.Length, reward: 0),  // cut at 4 tokens
            ]),
            new PromptInput(9, [8],
            [
                SampleInput.PrefixContinuation(trace, 2, [30, Eos], [-0.75f, -0.125f], reward: 1),   // prefix + continuation
                SampleInput.FullTrace(new OffPolicyTrace([20, 21, 22]), reward: 1),                 // whole trace + EOS
            ]),
        };
        using TrainingBatch batch = new MixedBatchBuilder(Options).Build(prompts);

        Assert.Equal(3, batch.PromptLength);
        Assert.Equal(4, batch.ResponseLength);
        Assert.Equal(new long[][]
        {
            [5, 6, 7, 10, Eos, Pad, Pad],
            [5, 6, 7, 10, 11, 12, 13],
            [Pad, Pad, 8, 20, 21, 30, Eos],
            [Pad, Pad, 8, 20, 21, 22, Eos],
        }, Rows(batch.InputIds));
        Assert.Equal(new long[][]
        {
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1, 1],
            [0, 0, 1, 1, 1, 1, 1],
            [0, 0, 1, 1, 1, 1, 1],
        }, Rows(batch.AttentionMask));
        Assert.Equal(new long[][]
        {
            [0, 1, 2, 3, 4, 4, 4],
            [0, 1, 2, 3, 4, 5, 6],
            [0, 0, 0, 1, 2, 3, 4],
            [0, 0, 0, 1, 2, 3, 4],
        }, Rows(batch.PositionIds));
        Assert.Equal(new long[][] { [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1] }, Rows(batch.ResponseMask));
        Assert.Equal(new long[][] { [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1] }, Rows(batch.OffPolicyMask));
        Assert.Equal(new long[] { 7, 7, 9, 9 }, batch.GroupIds.data<long>().ToArray());
        Assert.Equal(new float[] { 0, 0, 1, 1 }, batch.Rewards.data<float>().ToArray());
        Assert.Equal(new long[] { 0, 0, 2, 1 }, batch.SampleKinds.data<long>().ToArray());
        Assert.Equal(new long[] { 2, 4, 4, 4 }, batch.ResponseLengths.data<long>().ToArray());
        Assert.Equal(new[] { false, true, false, false }, batch.Truncated.data<bool>().ToArray());
        Assert.Equal(new float[] { -1, -2, 0, 0, 0, 0, 0, 0, -0.5f, -0.25f, -0.75f, -0.125f, 0, 0, 0, 0 }, batch.SamplingLogProbs.data<float>().ToArray());
        Assert.Equal(new long[][] { [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0] }, Rows(batch.SamplingLogProbsMask));

        BatchStatistics s = batch.Statistics;
        Assert.Equal(4, s.Sequences);
        Assert.Equal(2, s.Groups);
        Assert.Equal((0.5 + 1.0) / 2, s.AveragePrefixRatio);
        Assert.Equal(1, s.SolveNone);
        Assert.Equal(1, s.SolveAll);
        Assert.Equal(0, s.OnSolved);
        Assert.Equal(2, s.OffSolved);
        Assert.Equal(3.0, s.MeanOnResponseLength);
        Assert.Equal(4.0, s.MeanOffResponseLength);
        Assert.Equal(1.0, s.OffOnExampleRatio);
        Assert.Equal(1, s.TruncatedResponses);
        Assert.Equal(0, s.TruncatedTraces);
    }

    [Fact]
    public void Long_prompts_are_left_truncated_and_counted_when_asked()
    {
        var options = Options with { MaxPromptLength = 2, PromptOverflow = PromptOverflow.TruncateLeft };
        using TrainingBatch batch = new MixedBatchBuilder(options).Build([new PromptInput(1, [5, 6, 7], [SampleInput.OnPolicy([9, Eos], reward: 1)])]);
        Assert.Equal(new long[][] { [6, 7, 9, Eos] }, Rows(batch.InputIds));
        Assert.Equal(1, batch.Statistics.TruncatedPrompts);
    }

    [Fact]
    public void Long_prompts_are_rejected_by_default_naming_the_prompt()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(Options with { MaxPromptLength = 2 }).Build(
            [new PromptInput(1, [5], [SampleInput.OnPolicy([9], reward: 1)]), new PromptInput(2, [5, 6, 7], [SampleInput.OnPolicy([9], reward: 1)])]));
        Assert.Contains("prompt 1 has 3 tokens but MaxPromptLength is 2", ex.Message);
    }

    [Fact]
    public void Long_traces_are_truncated_and_counted()
    {
        using TrainingBatch batch = new MixedBatchBuilder(Options).Build([new PromptInput(1, [5], [SampleInput.FullTrace(new OffPolicyTrace([20, 21, 22, 23, 24]), reward: 1), SampleInput.OnPolicy([9, Eos], reward: 0)])]);
        Assert.Equal(new long[][] { [5, 20, 21, 22, 23], [5, 9, Eos, Pad, Pad] }, Rows(batch.InputIds));
        Assert.Equal(1, batch.Statistics.TruncatedTraces);
        Assert.Equal(0, batch.Statistics.TruncatedResponses);
        Assert.True(batch.Truncated[0].item<bool>());
    }

    [Fact]
    public void Rewards_can_come_from_a_reward_function_over_the_response()
    {
        using TrainingBatch batch = new MixedBatchBuilder(Options).Build(
            [new PromptInput(1, [5], [SampleInput.OnPolicy([9, Eos, 44]), SampleInput.OnPolicy([8, 8])])],
            rewardFunction: (prompt, sample, response) => response.Count == 2 && response[0] == 9 ? 1 : 0);
        Assert.Equal(new float[] { 1, 0 }, batch.Rewards.data<float>().ToArray());
    }

    [Fact]
    public void Prompt_rewards_list_is_used_in_sample_order()
    {
        using TrainingBatch batch = new MixedBatchBuilder(Options).Build([new PromptInput(1, [5], [SampleInput.OnPolicy([9]), SampleInput.OnPolicy([8])]) { Rewards = [0.25, 0.75] }]);
        Assert.Equal(new float[] { 0.25f, 0.75f }, batch.Rewards.data<float>().ToArray());
    }

    [Fact]
    public void Uniform_groups_are_dropped_and_counted_with_dynamic_filtering()
    {
        var prompts = new[]
        {
            new PromptInput(1, [5], [SampleInput.OnPolicy([9], reward: 1), SampleInput.OnPolicy([9], reward: 1)]),
            new PromptInput(2, [5], [SampleInput.OnPolicy([9], reward: 1), SampleInput.OnPolicy([9], reward: 0)]),
        };
        using TrainingBatch batch = new MixedBatchBuilder(Options with { DropUniformGroups = true }).Build(prompts);
        Assert.Equal(2, batch.Count);
        Assert.Equal(1, batch.Statistics.DroppedGroups);
        Assert.Equal(2, batch.Statistics.DroppedSamples);
        Assert.Equal(new long[] { 2, 2 }, batch.GroupIds.data<long>().ToArray());
    }

    public static TheoryData<string, PromptInput[], BatchBuilderOptions> BadInputs() => new()
    {
        { "prompt 1 is empty", [new(1, [5], [SampleInput.OnPolicy([9], reward: 1)]), new(2, [], [SampleInput.OnPolicy([9], reward: 1)])], Options },
        { "prompt 0 has no samples (empty group)", [new(1, [5], [])], Options },
        { "prompt 0 sample 0: the forced trace has 6 tokens (EOS included) but MaxResponseLength is 4 and TruncateTraces is off", [new(1, [5], [SampleInput.FullTrace(new OffPolicyTrace([20, 21, 22, 23, 24]), reward: 1)])], Options with { TruncateTraces = false } },
        { "prompt 0 sample 1: token 1 is 64; token ids must be in [0, 64)", [new(1, [5], [SampleInput.OnPolicy([9], reward: 1), SampleInput.OnPolicy([9, 64], reward: 1)])], Options },
        { "prompt 0 prompt: token 0 is -3", [new(1, [-3], [SampleInput.OnPolicy([9], reward: 1)])], Options },
        { "prompt 0 has 1 rewards but 2 samples", [new(1, [5], [SampleInput.OnPolicy([9]), SampleInput.OnPolicy([9])]) { Rewards = [1.0] }], Options },
        { "prompt 0 sample 1 has reward NaN", [new(1, [5], [SampleInput.OnPolicy([9], reward: 1), SampleInput.OnPolicy([9], reward: double.NaN)])], Options },
        { "prompt 0 sample 0 has no reward", [new(1, [5], [SampleInput.OnPolicy([9])])], Options },
        { "prompt 1 has group id 4, already used by prompt 0", [new(4, [5], [SampleInput.OnPolicy([9], reward: 1)]), new(4, [5], [SampleInput.OnPolicy([9], reward: 1)])], Options },
        { "prompt 0 sample 0: 2 generated tokens but 1 sampling log-probs", [new(1, [5], [SampleInput.OnPolicy([9, 9], [-1f], reward: 1)])], Options },
        { "prompt 0 sample 0: sampling log-prob 1 is NaN; log-probs must be finite and <= 0", [new(1, [5], [SampleInput.OnPolicy([9, 9], [-1f, float.NaN], reward: 1)])], Options },
        { "prompt 0 sample 0: sampling log-prob 0 is 0.25; log-probs must be finite and <= 0", [new(1, [5], [SampleInput.OnPolicy([9], [0.25f], reward: 1)])], Options },
        { "prompt 0 sample 1: behaviour log-prob 2 is", [new(1, [5], [SampleInput.OnPolicy([9], reward: 1), SampleInput.FullTrace(new OffPolicyTrace([20, 21, 22], [-1f, -2f, float.NegativeInfinity]), reward: 1)])], Options },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_rejected_naming_the_prompt_and_the_problem(string expected, PromptInput[] prompts, BatchBuilderOptions options)
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(options).Build(prompts));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Empty_prompt_list_is_rejected() =>
        Assert.Equal("prompts", Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(Options).Build([])).ParamName);

    [Theory]
    [InlineData(nameof(BatchBuilderOptions.MaxPromptLength))]
    [InlineData(nameof(BatchBuilderOptions.MaxResponseLength))]
    [InlineData(nameof(BatchBuilderOptions.PadTokenId))]
    [InlineData(nameof(BatchBuilderOptions.VocabularySize))]
    public void Out_of_range_options_are_rejected(string option)
    {
        BatchBuilderOptions bad = option switch
        {
            nameof(BatchBuilderOptions.MaxPromptLength) => Options with { MaxPromptLength = 0 },
            nameof(BatchBuilderOptions.MaxResponseLength) => Options with { MaxResponseLength = 0 },
            nameof(BatchBuilderOptions.PadTokenId) => Options with { PadTokenId = -1 },
            _ => Options with { VocabularySize = 2 }, // EOS id 2 is outside [0, 2)
        };
        Assert.Equal(option, Assert.Throws<ArgumentOutOfRangeException>(() => new MixedBatchBuilder(bad)).ParamName);
    }

    [Fact]
    public void Null_options_are_rejected() =>
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new MixedBatchBuilder(null!)).ParamName);

    [Fact]
    public void Empty_eos_list_is_rejected() =>
        Assert.Equal("EosTokenIds", Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(Options with { EosTokenIds = [] })).ParamName);

    // ---- properties over random groups ----

    private sealed record RandomSample(SampleInput Sample, int[] ExpectedResponse, int ExpectedOff);

    private static Arbitrary<int> Seeds => Gen.Choose(0, 1_000_000).ToArbitrary();

    private static (PromptInput[] Prompts, List<(int[] Prompt, RandomSample S)> Expected, BatchBuilderOptions Options) RandomPrompts(int seed)
    {
        var rng = new Random(seed);
        var options = new BatchBuilderOptions { EosTokenIds = [Eos, 3], MaxResponseLength = rng.Next(1, 12), MaxPromptLength = 16, VocabularySize = 50 };
        var prompts = new List<PromptInput>();
        var expected = new List<(int[], RandomSample)>();
        int count = rng.Next(1, 5);
        for (int p = 0; p < count; p++)
        {
            int[] prompt = Enumerable.Range(0, rng.Next(1, 9)).Select(_ => rng.Next(4, 50)).ToArray();
            var samples = new List<SampleInput>();
            int g = rng.Next(1, 5);
            for (int s = 0; s < g; s++)
            {
                int[] generated = Enumerable.Range(0, rng.Next(0, 14)).Select(_ => rng.Next(2, 50)).ToArray(); // may contain EOS 2 or 3
                OffPolicyTrace trace = new(Enumerable.Range(0, rng.Next(1, 10)).Select(_ => rng.Next(4, 50)).ToArray());
                SampleInput sample = rng.Next(3) switch
                {
                    0 => SampleInput.OnPolicy(generated, reward: rng.Next(2)),
                    1 => SampleInput.FullTrace(trace, reward: rng.Next(2)),
                    _ => SampleInput.PrefixContinuation(trace, rng.Next(0, trace.Tokens.Count + 1), generated, reward: rng.Next(2)),
                };
                var tokens = sample.ForcedPrefix.ToList();
                if (sample.Kind == SampleKind.FullTrace)
                {
                    tokens.Add(Eos);
                }
                int off = tokens.Count;
                tokens.AddRange(sample.Generated);
                int end = tokens.FindIndex(t => t is Eos or 3);
                int length = Math.Min(end < 0 ? tokens.Count : end + 1, options.MaxResponseLength);
                samples.Add(sample);
                expected.Add((prompt, new RandomSample(sample, tokens.Take(length).ToArray(), Math.Min(off, length))));
            }
            prompts.Add(new PromptInput(p * 10 + 3, prompt, samples));
        }
        return (prompts.ToArray(), expected, options);
    }

    [Property(MaxTest = 100)]
    public Property Every_sample_round_trips_and_masks_agree_with_lengths() =>
        Prop.ForAll(Seeds, seed =>
        {
            (PromptInput[] prompts, var expected, BatchBuilderOptions options) = RandomPrompts(seed);
            using TrainingBatch batch = new MixedBatchBuilder(options).Build(prompts);
            long[][] ids = Rows(batch.InputIds), response = Rows(batch.ResponseMask), off = Rows(batch.OffPolicyMask), attention = Rows(batch.AttentionMask);
            long[] lengths = batch.ResponseLengths.data<long>().ToArray();
            int p = batch.PromptLength;
            Assert.Equal(expected.Count, batch.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                (int[] prompt, RandomSample s) = expected[i];
                // prompt left-padded, response right-padded
                Assert.Equal(prompt.Select(x => (long)x), ids[i].Skip(p - prompt.Length).Take(prompt.Length));
                Assert.Equal(s.ExpectedResponse.Select(x => (long)x), ids[i].Skip(p).Take(s.ExpectedResponse.Length));
                Assert.Equal(s.ExpectedResponse.Length, lengths[i]);
                Assert.Equal(lengths[i], response[i].Sum());
                Assert.All(response[i].Take((int)lengths[i]), m => Assert.Equal(1, m));
                Assert.Equal(prompt.Length + lengths[i], attention[i].Sum());
                // off-policy mask: a prefix of the response mask for carriers, empty otherwise
                Assert.Equal(s.ExpectedOff, off[i].Sum());
                Assert.All(off[i].Take(s.ExpectedOff), m => Assert.Equal(1, m));
                if (s.Sample.Kind == SampleKind.OnPolicy)
                {
                    Assert.Equal(0, off[i].Sum());
                }
            }
            return true;
        });

    [Property(MaxTest = 50)]
    public Property Token_budget_micro_batches_cover_the_batch_within_budget_in_every_layout() =>
        Prop.ForAll(Seeds, Gen.Choose(1, 40).ToArbitrary(), Gen.Elements(Enum.GetValues<MicroBatchLayout>()).ToArbitrary(), (seed, budget, layout) =>
        {
            (PromptInput[] prompts, _, BatchBuilderOptions options) = RandomPrompts(seed);
            using TrainingBatch batch = new MixedBatchBuilder(options).Build(prompts);
            IReadOnlyList<MicroBatch> micro = MicroBatcher.ByTokenBudget(batch, budget, layout);
            long[] tokens = batch.AttentionMask.sum(1).data<long>().ToArray();
            var seen = new long[tokens.Length];
            var rows = new List<int>();
            foreach (MicroBatch m in micro)
            {
                long[] mTokens = m.Batch.AttentionMask.sum(1).data<long>().ToArray();
                Assert.True(mTokens.Length == 1 || mTokens.Sum() <= budget, $"micro-batch of {mTokens.Length} sequences uses {mTokens.Sum()} > {budget} tokens");
                Assert.Equal(batch.ResponseLengths.sum().item<long>(), m.GlobalTokenCount);
                for (int k = 0; k < m.Count; k++)
                {
                    seen[m.Rows[k]] = mTokens[k]; // a trimmed micro-batch keeps every real token of its rows
                }
                rows.AddRange(m.Rows);
                m.Dispose();
            }
            Assert.Equal(tokens, seen);
            Assert.Equal(Enumerable.Range(0, tokens.Length), layout == MicroBatchLayout.SortedByLength ? rows.Order() : rows); // in order unless sorted
            return true;
        });

    [Fact]
    public void Micro_batch_losses_with_their_global_normalizer_add_up_to_the_full_batch_loss()
    {
        (PromptInput[] prompts, _, BatchBuilderOptions options) = RandomPrompts(12345);
        using TrainingBatch batch = new MixedBatchBuilder(options).Build(prompts);
        Tensor logp = (-rand(batch.Count, batch.ResponseLength, dtype: ScalarType.Float64) * 3).requires_grad_(true);
        var loss = new MixedPolicyLoss();
        using AdvantageResult advantages = new GroupNormalizedAdvantage().Compute(batch.ToRewardBatch());
        Tensor tokenAdvantages = advantages.ToTokens(batch.ResponseMask).to_type(ScalarType.Float64);

        using PolicyLossResult full = loss.Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = logp.detach() - 0.1, Advantages = tokenAdvantages, ResponseMask = batch.ResponseMask, OffPolicyMask = batch.OffPolicyMask,
        });
        double sum = 0;
        IReadOnlyList<MicroBatch> micro = MicroBatcher.ByCount(batch, 2);
        int offset = 0;
        foreach (MicroBatch m in micro)
        {
            Assert.Equal(Enumerable.Range(offset, m.Count), m.Rows);
            using PolicyLossResult part = loss.Compute(new PolicyLossInputs
            {
                LogProbs = m.Slice(logp), OldLogProbs = m.Slice(logp.detach()) - 0.1, Advantages = m.Slice(tokenAdvantages),
                ResponseMask = m.Batch.ResponseMask, OffPolicyMask = m.Batch.OffPolicyMask, Normalizers = m.Normalizers(loss.Options),
            });
            sum += Tensors.Scalar(part.Loss);
            offset += m.Count;
            m.Dispose();
        }
        Assert.Equal(batch.Count, offset);
        AssertClose.Scalar(Tensors.Scalar(full.Loss), sum, 1e-12, 1e-6);
    }

    [Fact]
    public void A_negative_eos_id_is_rejected_without_a_vocabulary_size()
    {
        // -1 was written into InputIds after every full trace
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [2, -1] }));
        Assert.Equal("EosTokenIds", ex.ParamName);
        Assert.Contains("-1", ex.Message);
    }

    [Fact]
    public void A_full_trace_of_zero_tokens_without_an_appended_eos_is_rejected()
    {
        var options = Options with { AppendEosToTraces = false };
        var ex = Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(options).Build(
            [new PromptInput(1, [5], [SampleInput.OnPolicy([10, Eos], reward: 0), SampleInput.FullTrace(new OffPolicyTrace([]), reward: 1)])]));
        Assert.Contains("prompt 0 sample 1 is a full trace of 0 tokens", ex.Message);
    }

    [Fact]
    public void The_meta_device_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedBatchBuilder(Options).Build(
            [new PromptInput(1, [5], [SampleInput.OnPolicy([10, Eos], reward: 0)])], device: new Device(DeviceType.META)));
        Assert.Equal("device", ex.ParamName);
    }

    [Theory]
    [InlineData(1.0, 1, 0, 0)]
    [InlineData(0.5, 0, 1, 1)]
    public void Solved_counts_follow_the_solved_reward(double solvedReward, int solveNone, int solveAll, int onSolved)
    {
        // rewards 0.6 and 0.8 (partial credit): neither 0 nor 1, so the 0/1 convention called the group unsolved only
        // because no reward reached 1; with SolvedReward = 0.5 both count as solved
        var options = Options with { SolvedReward = solvedReward };
        using TrainingBatch batch = new MixedBatchBuilder(options).Build(
            [new PromptInput(1, [5], [SampleInput.OnPolicy([10, Eos], reward: 0.6), SampleInput.OnPolicy([11, Eos], reward: 0.8)])]);
        Assert.Equal((solveNone, solveAll, onSolved == 1 ? 2 : 0), (batch.Statistics.SolveNone, batch.Statistics.SolveAll, batch.Statistics.OnSolved));
    }

    [Fact]
    public void A_non_finite_solved_reward_is_rejected() =>
        Assert.Equal("SolvedReward", Assert.Throws<ArgumentOutOfRangeException>(() => new MixedBatchBuilder(Options with { SolvedReward = double.NaN })).ParamName);
}
