using Luffy.Objectives.Experience;

namespace Luffy.Objectives.Tests.Experience;

public class ExperienceBufferTests
{
    /// <summary>A group of G members, the first <paramref name="correct"/> correct; member i's tokens are [variant, i, 2] with log-probs.</summary>
    private static ExperienceCandidate[] Group(int correct, int g = 8, int variant = 0) =>
        [.. Enumerable.Range(0, g).Select(i => new ExperienceCandidate([variant, i, 2], [-0.5f, -0.25f * (i + 1), -0.01f], i < correct ? 1 : 0))];

    private static ExperienceBuffer Started(ExperienceOptions? options = null)
    {
        var buffer = new ExperienceBuffer(options);
        Assert.True(buffer.EndStep(1.0));
        return buffer;
    }

    /// <summary>φ(k)/Σφ over the occupied buckets, written out from the normal density (independent of the library's weight code).</summary>
    private static double NormalShare(int k, IEnumerable<int> occupied, double mean = 4, double sd = 1)
    {
        static double Phi(double x, double m, double s) => Math.Exp(-(x - m) * (x - m) / (2 * s * s)) / (s * Math.Sqrt(2 * Math.PI));
        return Phi(k, mean, sd) / occupied.Sum(j => Phi(j, mean, sd));
    }

    [Fact]
    public void Bucket_probabilities_are_the_notes_numbers_for_G_8()
    {
        var all = ExperienceBuffer.BucketProbabilities([1, 2, 3, 4, 5, 6, 7], new ExperienceOptions());
        double[] expected = [0.004433, 0.054006, 0.242036, 0.399050, 0.242036, 0.054006, 0.004433];
        for (int k = 1; k <= 7; k++)
        {
            Assert.Equal(expected[k - 1], all[k], 6);
            Assert.Equal(NormalShare(k, [1, 2, 3, 4, 5, 6, 7]), all[k], 14);
        }
        var some = ExperienceBuffer.BucketProbabilities([7, 2, 4], new ExperienceOptions());
        Assert.Equal(0.118048, some[2], 6);
        Assert.Equal(0.872262, some[4], 6);
        Assert.Equal(0.009690, some[7], 6);
        var shifted = ExperienceBuffer.BucketProbabilities([1, 3, 5], new ExperienceOptions { BucketMean = 2, BucketStandardDeviation = 1.5 });
        Assert.Equal(NormalShare(3, [1, 3, 5], 2, 1.5), shifted[3], 14);
    }

    public static TheoryData<BucketWeighting, int, double[]> OtherWeightings() => new()
    {
        // G = 8, buckets {1, 3, 6}: weights written out from the reference's formulas
        { BucketWeighting.Linear, 8, [1 / 8.0, 3 / 8.0, 6 / 8.0] },
        { BucketWeighting.SquareRoot, 8, [Math.Sqrt(1 / 8.0), Math.Sqrt(3 / 8.0), Math.Sqrt(6 / 8.0)] },
        { BucketWeighting.LinearClip, 8, [1 / 8.0, 3 / 8.0, 0.5] },
    };

    [Theory]
    [MemberData(nameof(OtherWeightings))]
    public void Other_weightings_follow_their_formulas(BucketWeighting weighting, int g, double[] weights)
    {
        var p = ExperienceBuffer.BucketProbabilities([1, 3, 6], new ExperienceOptions { SamplesPerPrompt = g, Weighting = weighting });
        int[] ks = [1, 3, 6];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(weights[i] / weights.Sum(), p[ks[i]], 14);
        }
    }

    [Theory]
    [InlineData(0, "bucket 0 is outside [1, G - 1] = [1, 7]")]
    [InlineData(8, "bucket 8 is outside")]
    public void A_bucket_outside_1_to_G_minus_1_is_rejected(int k, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => ExperienceBuffer.BucketProbabilities([k], new ExperienceOptions()));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void A_repeated_bucket_or_bucket_probabilities_without_buckets_are_rejected()
    {
        Assert.Contains("listed twice", Assert.Throws<ArgumentException>(() => ExperienceBuffer.BucketProbabilities([3, 3], new ExperienceOptions())).Message);
        Assert.Contains("without buckets", Assert.Throws<ArgumentException>(() => ExperienceBuffer.BucketProbabilities([3], new ExperienceOptions { Weighting = BucketWeighting.UniformQuestions })).Message);
    }

    [Fact]
    public void During_the_warm_up_only_retirement_applies()
    {
        var buffer = new ExperienceBuffer();
        Assert.Equal(GroupOutcome.WarmingUp, buffer.RecordGroup(1, Group(3)).Outcome);
        Assert.Empty(buffer.Questions);
        Assert.Equal(GroupOutcome.Retired, buffer.RecordGroup(2, Group(8)).Outcome);
        Assert.True(buffer.IsRetired(2));
        Assert.Equal(0, buffer.ReplayCount(128));
    }

    [Fact]
    public void The_warm_up_ends_after_the_first_step_above_the_threshold_strictly_and_for_good()
    {
        var buffer = new ExperienceBuffer();
        Assert.False(buffer.EndStep(0.35));
        Assert.False(buffer.ReplayStarted);
        Assert.True(buffer.EndStep(0.3501));
        Assert.True(buffer.ReplayStarted);
        Assert.False(buffer.EndStep(0.0)); // one-way
        Assert.True(buffer.ReplayStarted);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.EndStep(1.2));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.EndStep(double.NaN));
    }

    [Fact]
    public void A_collected_group_sets_the_bucket_to_its_latest_k_and_stores_new_correct_members_once()
    {
        ExperienceBuffer buffer = Started();
        GroupRecord first = buffer.RecordGroup(5, Group(3));
        Assert.Equal(new GroupRecord(GroupOutcome.Collected, 3, 3, 0), first);
        Assert.Equal(3, buffer.BucketOf(5));
        // the same three trajectories again plus two new ones: only the new ones are stored; the bucket follows k
        GroupRecord second = buffer.RecordGroup(5, Group(5));
        Assert.Equal(new GroupRecord(GroupOutcome.Collected, 5, 2, 0), second);
        Assert.Equal(5, buffer.BucketOf(5));
        Assert.Equal(5, buffer.Trajectories(5).Count);
        Assert.Equal(new[] { 0, 0, 2 }, buffer.Trajectories(5)[0].Tokens);
        Assert.Equal(new[] { -0.5f, -0.25f, -0.01f }, buffer.Trajectories(5)[0].BehaviourLogProbs);
        // k = 0 changes nothing (the reference keeps the bucket and the trajectories)
        Assert.Equal(GroupOutcome.Unsolved, buffer.RecordGroup(5, Group(0)).Outcome);
        Assert.Equal(5, buffer.BucketOf(5));
        ExperienceStatistics statistics = buffer.Statistics;
        Assert.Equal((1, 5, 0, true, 0L), (statistics.Questions, statistics.Trajectories, statistics.Retired, statistics.ReplayStarted, statistics.Evicted));
        Assert.Equal(new[] { 0, 0, 0, 0, 1, 0, 0 }, statistics.BucketSizes);
    }

    [Fact]
    public void An_all_correct_group_retires_the_question_and_removes_what_it_stored()
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(5, Group(4));
        Assert.Equal(GroupOutcome.Retired, buffer.RecordGroup(5, Group(8)).Outcome);
        Assert.True(buffer.IsRetired(5));
        Assert.Null(buffer.BucketOf(5));
        Assert.Empty(buffer.Trajectories(5));
        Assert.Equal(GroupOutcome.AlreadyRetired, buffer.RecordGroup(5, Group(2)).Outcome);
        Assert.Empty(buffer.Questions);
        Assert.Equal(1, buffer.Statistics.Retired);
    }

    [Fact]
    public void Groups_outside_the_collect_range_change_nothing()
    {
        ExperienceBuffer buffer = Started(new ExperienceOptions { CollectLowerBound = 2, CollectUpperBound = 6 });
        Assert.Equal(GroupOutcome.OutsideCollectRange, buffer.RecordGroup(1, Group(2)).Outcome);
        Assert.Equal(GroupOutcome.OutsideCollectRange, buffer.RecordGroup(1, Group(7)).Outcome);
        Assert.Equal(GroupOutcome.Collected, buffer.RecordGroup(1, Group(3)).Outcome);
        Assert.Equal(GroupOutcome.Collected, buffer.RecordGroup(2, Group(6)).Outcome);
    }

    public static TheoryData<string, ExperienceCandidate[], string> BadGroups()
    {
        ExperienceCandidate[] WithMember(ExperienceCandidate member)
        {
            ExperienceCandidate[] group = Group(3);
            group[1] = member;
            return group;
        }
        return new()
        {
            { "seven members", Group(3, g: 7), "7 members but SamplesPerPrompt (G) is 8" },
            { "a correct member without log-probs", WithMember(new([1, 2], null, 1)), "member 1 is correct but has no behaviour log-probs" },
            { "log-probs of the wrong length", WithMember(new([1, 2], [-0.5f], 1)), "member 1: the trajectory has 2 tokens but 1 behaviour log-probs" },
            { "a NaN log-prob", WithMember(new([1, 2], [-0.5f, float.NaN], 1)), "member 1: behaviour log-prob 1 is NaN" },
            { "a positive log-prob", WithMember(new([1, 2], [0.5f, -1f], 1)), "member 1: behaviour log-prob 0 is 0" },
            { "a NaN reward", WithMember(new([1, 2], [-0.5f, -1f], double.NaN)), "member 1 has reward NaN" },
            { "a null member", WithMember(null!), "member 1 is null" },
        };
    }

    [Theory]
    [MemberData(nameof(BadGroups))]
    public void A_bad_group_is_a_clear_error_and_changes_nothing(string what, ExperienceCandidate[] group, string message)
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(9, Group(2, variant: 7));
        var ex = Assert.Throws<ArgumentException>(() => buffer.RecordGroup(9, group));
        Assert.True(ex.Message.Contains(message, StringComparison.Ordinal), $"{what}: {ex.Message}");
        Assert.Equal(2, buffer.BucketOf(9));
        Assert.Equal(2, buffer.Trajectories(9).Count);
    }

    [Fact]
    public void A_wrong_member_without_log_probs_is_fine_it_is_never_stored()
    {
        ExperienceBuffer buffer = Started();
        ExperienceCandidate[] group = Group(2);
        group[5] = new([1, 2], null, 0);
        Assert.Equal(GroupOutcome.Collected, buffer.RecordGroup(3, group).Outcome);
    }

    [Fact]
    public void The_replay_count_is_min_of_the_pool_and_floor_B_times_rho()
    {
        ExperienceBuffer buffer = Started();
        Assert.Equal(0, buffer.ReplayCount(128)); // empty buffer: the step after the switch replays nothing
        for (int q = 0; q < 10; q++)
        {
            buffer.RecordGroup(q, Group(1 + q % 7, variant: q));
        }
        Assert.Equal(10, buffer.ReplayCount(128));
        Assert.Equal(3, buffer.ReplayCount(7)); // ⌊3.5⌋
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.ReplayCount(0));
    }

    [Fact]
    public void A_plan_replays_n_exp_questions_and_keeps_the_first_B_minus_n_exp_of_the_loader()
    {
        ExperienceBuffer buffer = Started();
        for (int q = 0; q < 10; q++)
        {
            buffer.RecordGroup(100 + q, Group(1 + q % 7, variant: q));
        }
        long[] loader = [.. Enumerable.Range(0, 8).Select(i => (long)i)];
        ReplayPlan plan = buffer.PlanBatch(loader, step: 3);
        Assert.Equal(4, plan.Replay.Count);
        Assert.Equal(new long[] { 0, 1, 2, 3 }, plan.Fresh);
        Assert.Equal(4, plan.Replay.Distinct().Count());
        Assert.All(plan.Replay, id => Assert.Contains(id, buffer.Questions));
        Assert.Equal(plan.Replay, buffer.PlanBatch(loader, step: 3).Replay);
        Assert.Throws<ArgumentException>(() => buffer.PlanBatch([], 0));
    }

    [Property(MaxTest = 150)]
    public Property Sampling_gives_distinct_pool_questions_within_bucket_sizes_and_is_reproducible() =>
        Prop.ForAll(Gen.Choose(0, 1000).ToArbitrary(), Gen.Choose(1, 40).ToArbitrary(), Gen.Choose(0, 4).ToArbitrary(), (seed, questions, weighting) =>
        {
            var options = new ExperienceOptions { Seed = seed, Weighting = (BucketWeighting)weighting };
            ExperienceBuffer buffer = Started(options);
            var random = new Random(seed);
            for (int q = 0; q < questions; q++)
            {
                buffer.RecordGroup(q * 3, Group(1 + random.Next(7), variant: q));
            }
            int count = random.Next(questions + 1);
            int step = random.Next(500);
            IReadOnlyList<long> drawn = buffer.SampleQuestions(count, step);
            var sizes = buffer.Questions.GroupBy(q => buffer.BucketOf(q)).ToDictionary(g => g.Key!.Value, g => g.Count());
            bool withinSizes = drawn.GroupBy(q => buffer.BucketOf(q)!.Value).All(g => g.Count() <= sizes[g.Key]);
            return drawn.Count == count && drawn.Distinct().Count() == count && drawn.All(buffer.Questions.Contains) && withinSizes
                && drawn.SequenceEqual(buffer.SampleQuestions(count, step));
        });

    [Fact]
    public void An_overfull_bucket_is_capped_and_its_excess_goes_to_the_others()
    {
        // bucket 4 (P = 0.87 of {2, 4}) holds one question, bucket 2 five: whatever the draws, 3 questions are 1 from bucket 4 and 2 from bucket 2
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(40, Group(4, variant: 40));
        for (int q = 0; q < 5; q++)
        {
            buffer.RecordGroup(q, Group(2, variant: q));
        }
        for (int step = 0; step < 50; step++)
        {
            IReadOnlyList<long> drawn = buffer.SampleQuestions(3, step);
            Assert.Equal(1, drawn.Count(q => q == 40));
            Assert.Equal(2, drawn.Count(q => q < 5));
        }
        Assert.Equal(6, buffer.SampleQuestions(6, 0).Distinct().Count()); // every question when n = |V|
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.SampleQuestions(7, 0));
    }

    [Fact]
    public void Single_draws_follow_the_bucket_probabilities()
    {
        // one question drawn per step from buckets 2, 3, 4 (five questions each), N = 4000 steps: each bucket's frequency is
        // within 5 standard errors sqrt(P(1 − P)/N) (≤ 0.0079) of P. The draws are seeded, so the outcome is fixed; the
        // bound says the sampler follows P, not one run's luck.
        ExperienceBuffer buffer = Started(new ExperienceOptions { Seed = 3 });
        for (int q = 0; q < 15; q++)
        {
            buffer.RecordGroup(q, Group(2 + q / 5, variant: q));
        }
        IReadOnlyDictionary<int, double> p = buffer.BucketProbabilities();
        const int n = 4000;
        var frequency = new Dictionary<int, int> { [2] = 0, [3] = 0, [4] = 0 };
        for (int step = 0; step < n; step++)
        {
            frequency[buffer.BucketOf(buffer.SampleQuestions(1, step)[0])!.Value]++;
        }
        foreach ((int k, int hits) in frequency)
        {
            double se = Math.Sqrt(p[k] * (1 - p[k]) / n);
            Assert.True(Math.Abs(hits / (double)n - p[k]) < 5 * se, $"bucket {k}: {hits / (double)n} vs P = {p[k]} (SE {se})");
        }
    }

    [Fact]
    public void The_lowest_entropy_trajectory_is_chosen_first_on_ties()
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(1, Group(4));
        Assert.Equal(2, buffer.ChooseTrajectory(1, [0.9, 0.5, 0.25, 0.25], step: 0));
        Assert.Equal(0, buffer.ChooseTrajectory(1, [0.1, 0.5, 0.25, 0.1], step: 0));
    }

    public static TheoryData<string, double[]?, string> BadEntropies() => new()
    {
        { "none", null, "Selection is LowestEntropy but no entropies were given" },
        { "too few", [0.1, 0.2], "has 4 stored trajectories but 2 entropies" },
        { "NaN", [0.1, double.NaN, 0.2, 0.3], "entropy 1 of question 1 is NaN" },
        { "negative", [0.1, 0.2, -1, 0.3], "entropy 2 of question 1 is -1" },
    };

    [Theory]
    [MemberData(nameof(BadEntropies))]
    public void Bad_entropies_are_a_clear_error(string what, double[]? entropies, string message)
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(1, Group(4));
        var ex = Assert.Throws<ArgumentException>(() => buffer.ChooseTrajectory(1, entropies, 0));
        Assert.True(ex.Message.Contains(message, StringComparison.Ordinal), $"{what}: {ex.Message}");
    }

    [Fact]
    public void Choosing_for_an_unknown_or_retired_question_is_a_clear_error()
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(1, Group(8));
        Assert.Contains("question 1 has no stored trajectory (it was retired)", Assert.Throws<ArgumentException>(() => buffer.ChooseTrajectory(1, [0.1], 0)).Message);
        Assert.Contains("question 2 has no stored trajectory.", Assert.Throws<ArgumentException>(() => buffer.ChooseTrajectory(2, [0.1], 0)).Message);
    }

    [Fact]
    public void Random_selection_is_seeded_covers_every_trajectory_and_refuses_entropies()
    {
        ExperienceBuffer buffer = Started(new ExperienceOptions { Selection = TrajectorySelection.Random, Seed = 5 });
        buffer.RecordGroup(1, Group(4));
        int[] picks = [.. Enumerable.Range(0, 200).Select(step => buffer.ChooseTrajectory(1, null, step))];
        Assert.Equal(new[] { 0, 1, 2, 3 }, picks.Distinct().Order());
        Assert.Equal(picks, Enumerable.Range(0, 200).Select(step => buffer.ChooseTrajectory(1, null, step)));
        Assert.Contains("Selection is Random but entropies were given", Assert.Throws<ArgumentException>(() => buffer.ChooseTrajectory(1, [1, 2, 3, 4], 0)).Message);
    }

    [Fact]
    public void Mean_entropies_are_masked_means_per_row()
    {
        Tensor entropy = tensor(new float[,] { { 0.5f, 1.5f, 9f }, { 2f, 7f, 7f } });
        Tensor mask = tensor(new[,] { { true, true, false }, { true, false, false } });
        Assert.Equal(new[] { 1.0, 2.0 }, ExperienceBuffer.MeanEntropies(entropy, mask));
        Assert.Contains("row 1 of responseMask has no response token", Assert.Throws<ArgumentException>(() =>
            ExperienceBuffer.MeanEntropies(entropy, tensor(new[,] { { true, true, false }, { false, false, false } }))).Message);
        Assert.Throws<ArgumentException>(() => ExperienceBuffer.MeanEntropies(entropy, ones(2, 2, dtype: ScalarType.Bool)));
    }

    [Fact]
    public void Size_bounds_evict_the_oldest_trajectory_and_the_least_recently_updated_question()
    {
        ExperienceBuffer buffer = Started(new ExperienceOptions { MaxQuestions = 2, MaxTrajectoriesPerQuestion = 2 });
        Assert.Equal(new GroupRecord(GroupOutcome.Collected, 3, 3, 1), buffer.RecordGroup(1, Group(3)));
        Assert.Equal(new[] { new[] { 0, 1, 2 }, new[] { 0, 2, 2 } }, buffer.Trajectories(1).Select(t => t.Tokens.ToArray()));
        buffer.RecordGroup(2, Group(1, variant: 2));
        buffer.RecordGroup(1, Group(1, variant: 1)); // question 1 updated again: question 2 is now the least recent
        GroupRecord third = buffer.RecordGroup(3, Group(1, variant: 3));
        Assert.Equal(1, third.Evicted);
        Assert.Equal(new long[] { 1, 3 }, buffer.Questions);
        Assert.Equal(3, buffer.Statistics.Evicted); // one trajectory of question 1, then one of question 1 again, then question 2's
    }

    [Fact]
    public void A_saved_buffer_loads_identically_and_draws_what_the_original_draws()
    {
        var options = new ExperienceOptions { Seed = 17, MaxTrajectoriesPerQuestion = 3 };
        ExperienceBuffer buffer = Started(options);
        var random = new Random(4);
        for (int q = 0; q < 30; q++)
        {
            buffer.RecordGroup(random.Next(20), Group(1 + random.Next(8), variant: random.Next(3)));
        }
        using var stream = new MemoryStream();
        buffer.Save(stream);
        stream.Position = 0;
        ExperienceBuffer loaded = ExperienceBuffer.Load(stream, options);
        Assert.Equal(buffer.Questions, loaded.Questions);
        Assert.Equal(buffer.Statistics.BucketSizes, loaded.Statistics.BucketSizes);
        static object Scalars(ExperienceStatistics s) => (s.Questions, s.Trajectories, s.Retired, s.ReplayStarted, s.Evicted);
        Assert.Equal(Scalars(buffer.Statistics), Scalars(loaded.Statistics));
        foreach (long q in buffer.Questions)
        {
            Assert.Equal(buffer.Trajectories(q), loaded.Trajectories(q));
            Assert.Equal(buffer.BucketOf(q), loaded.BucketOf(q));
        }
        for (long q = 0; q < 20; q++)
        {
            Assert.Equal(buffer.IsRetired(q), loaded.IsRetired(q));
        }
        // the same future: the same draws, and the same updates and evictions
        for (int step = 0; step < 20; step++)
        {
            Assert.Equal(buffer.SampleQuestions(buffer.ReplayCount(16), step), loaded.SampleQuestions(loaded.ReplayCount(16), step));
        }
        ExperienceCandidate[] next = Group(2, variant: 9);
        Assert.Equal(buffer.RecordGroup(3, next), loaded.RecordGroup(3, next));
        using var again = new MemoryStream();
        loaded.Save(again);
        using var original = new MemoryStream();
        buffer.Save(original);
        Assert.Equal(original.ToArray(), again.ToArray());
    }

    [Fact]
    public void Loading_with_another_G_a_truncated_stream_or_another_format_is_a_clear_error()
    {
        ExperienceBuffer buffer = Started();
        buffer.RecordGroup(1, Group(3));
        using var stream = new MemoryStream();
        buffer.Save(stream);
        byte[] bytes = stream.ToArray();
        Assert.Contains("saved with SamplesPerPrompt (G) = 8 but the options say 4", Assert.Throws<InvalidDataException>(() => ExperienceBuffer.Load(new MemoryStream(bytes), new ExperienceOptions { SamplesPerPrompt = 4 })).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => ExperienceBuffer.Load(new MemoryStream(bytes[..^3]))).Message);
        Assert.Contains("not an experience buffer", Assert.Throws<InvalidDataException>(() => ExperienceBuffer.Load(new MemoryStream([3, 65, 66, 67, 0, 0, 0, 0]))).Message);
    }
}
