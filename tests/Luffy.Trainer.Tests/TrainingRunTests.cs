using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class TrainingRunTests
{
    internal static double[] Parameters(Luffy.Trainer.Model.CausalLanguageModel model) =>
        model.parameters().SelectMany(p => p.detach().cpu().to_type(ScalarType.Float64).data<double>().ToArray()).ToArray();

    public static TheoryData<string> Methods() => [.. TrainingMethod.All.Select(m => m.Name)];

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_method_runs_three_steps_with_finite_losses_and_changes_the_parameters(string method)
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(method);
        double[] before = Parameters(run.Model);
        for (int i = 0; i < 3; i++)
        {
            StepRecord record = run.RunStep();
            Assert.True(double.IsFinite(record.Loss), $"step {record.Step} loss {record.Loss}");
            Assert.False(record.Skipped);
            Assert.Equal(setup.Options.PpoEpochs * setup.Options.MiniBatches, record.Updates); // defaults: 2 epochs × 1 mini-batch
        }
        double[] after = Parameters(run.Model);
        Assert.Equal(before.Length, after.Length);
        Assert.True(before.Zip(after).Any(p => p.First != p.Second), "no parameter changed");
    }

    [Fact]
    public void Sft_then_grpo_switches_phase_at_half_the_steps()
    {
        using var setup = new TinySetup(); // 4 steps: SFT for 1-2, GRPO for 3-4
        using TrainingRun run = setup.NewRun(TrainingMethod.SftThenGrpo);
        string[] phases = [.. Enumerable.Range(0, 4).Select(_ => run.RunStep().Phase)];
        Assert.Equal(["sft", "sft", "grpo", "grpo"], phases);
    }

    [Fact]
    public void Luffy_batches_carry_the_trace_and_grpo_batches_do_not()
    {
        using var setup = new TinySetup();
        using TrainingRun luffy = setup.NewRun(TrainingMethod.Luffy);
        using TrainingRun grpo = setup.NewRun(TrainingMethod.Grpo);
        Assert.True(double.IsFinite(luffy.RunStep().TraceReward));      // the trace's verifier reward is logged
        Assert.True(double.IsNaN(grpo.RunStep().TraceReward));          // no trace carriers at all
    }

    [Fact]
    public void One_update_per_rollout_batch_sees_ratio_one_exactly()
    {
        using var setup = new TinySetup();
        setup.Options = setup.Options with { ClipOnPolicy = true, PpoEpochs = 1, MiniBatches = 1 };
        using TrainingRun run = setup.NewRun(TrainingMethod.Grpo);
        StepRecord record = run.RunStep();
        Assert.Equal(1, record.Updates);
        Assert.Equal(0.0, record.PpoKl); // old log-probs are the same forward pass's: log ratio 0 on every token
        Assert.Equal(0.0, record.ClipFraction);
    }

    [Fact]
    public void Later_mini_batch_updates_see_ratios_other_than_one_and_report_the_clip_fraction()
    {
        using var setup = new TinySetup();
        // 3 prompt groups in 3 mini-batches, 2 epochs: 6 updates; a large learning rate moves the policy far from the rollout's
        // responses long enough for whole traces: their reward 1 gives the group non-zero advantages
        setup.Options = setup.Options with { ClipOnPolicy = true, MiniBatches = 3, PpoEpochs = 2, LearningRate = 0.05, MaxResponseLength = 40 };
        using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
        StepRecord record = run.RunStep();
        Assert.Equal(6, record.Updates);
        Assert.NotEqual(0.0, record.PpoKl);
        Assert.True(record.ClipFraction > 0, $"clip fraction {record.ClipFraction} kl {record.PpoKl} reward {record.OnPolicyReward} trace {record.TraceReward} loss {record.Loss}");
    }

    [Fact]
    public void Mini_batches_hold_whole_prompt_groups()
    {
        List<long[]> parts = TrainingRun.MiniBatchRows([7, 7, 7, 9, 9, 9, 4, 4, 4, 5, 5, 5, 6, 6, 6], 2);
        Assert.Equal([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12, 13, 14]], parts);
        Assert.Single(TrainingRun.MiniBatchRows([1, 1, 2, 2], 1));
        Assert.Equal(2, TrainingRun.MiniBatchRows([1, 1, 2, 2], 5).Count); // never more parts than groups
    }

    [Theory]
    [InlineData("luffy")]
    [InlineData("sft")]
    public void A_resumed_run_reproduces_the_next_step_loss_of_the_uninterrupted_run_bit_for_bit(string method)
    {
        using var setup = new TinySetup();
        double expected;
        using (TrainingRun uninterrupted = setup.NewRun(method))
        {
            uninterrupted.RunStep();
            uninterrupted.RunStep();
            uninterrupted.SaveCheckpoint();
            expected = uninterrupted.RunStep().Loss;
        }
        using TrainingRun resumed = setup.NewRun(method);
        Assert.True(resumed.TryResume());
        Assert.Equal(2, resumed.Step);
        Assert.Equal(expected, resumed.RunStep().Loss);
    }

    /// <summary>
    /// An exgrpo run whose buffer already holds one trajectory of "Q:3+4=" (question id 3 + 4·10 = 43), collected
    /// from a group with one correct member of three, with replay started: the tiny base model solves too little for
    /// its own groups to fill the buffer within a few steps.
    /// </summary>
    private static TrainingRun PrefilledExgrpoRun(TinySetup setup)
    {
        TrainingRun run = setup.NewRun("exgrpo");
        var tokenizer = new Luffy.Trainer.Arithmetic.CharTokenizer();
        int[] answer = [.. tokenizer.Encode("A:7"), Luffy.Trainer.Arithmetic.CharTokenizer.Eos];
        Luffy.Objectives.Experience.ExperienceBuffer buffer = run.Experience!;
        buffer.EndStep(1.0);
        var record = buffer.RecordGroup(43,
        [
            new(answer, [.. answer.Select(_ => -0.7f)], 1),
            new([.. tokenizer.Encode("A:8"), Luffy.Trainer.Arithmetic.CharTokenizer.Eos], null, 0),
            new([.. tokenizer.Encode("A:9"), Luffy.Trainer.Arithmetic.CharTokenizer.Eos], null, 0),
        ]);
        Assert.Equal(Luffy.Objectives.Experience.GroupOutcome.Collected, record.Outcome);
        return run;
    }

    [Fact]
    public void Exgrpo_replays_a_stored_trajectory_in_a_group_of_its_question_and_trains_it_against_its_stored_log_probs()
    {
        using var setup = new TinySetup("exgrpo");
        using TrainingRun run = PrefilledExgrpoRun(setup);
        StepRecord record = run.RunStep();
        Assert.Equal(1, record.ReplayedSamples); // n_exp = min(|V| = 1, ⌊3·0.5⌋ = 1)
        Assert.Equal(1 / 3.0, record.ReplayShare); // one of the three groups
        Assert.True(record.ReplayStarted);
        Assert.Equal(1.0, record.TraceReward); // the replayed "A:7" is correct for 3+4
        // the replayed tokens' ratio is f(w) = w/(w + 0.1) with w = p/exp(-0.7): finite and positive, not f(p)
        Assert.True(record.OffRatioMean > 0 && record.OffRatioMean < 1 / 1.1, $"off_ratio_mean {record.OffRatioMean}");
        Assert.True(record.ExperienceQuestions + record.RetiredQuestions > 0);
        Assert.NotNull(record.ExperienceBuckets);
        Assert.Equal(2, record.ExperienceBuckets!.Length); // buckets k = 1..G − 1 with G = 3
        Assert.Equal(0, record.ClipFraction); // replay has started: the on-policy ratio is unclipped
    }

    [Fact]
    public void A_resumed_exgrpo_run_restores_its_buffer_and_reproduces_the_next_step_bit_for_bit()
    {
        using var setup = new TinySetup("exgrpo");
        double expected;
        byte[] saved;
        using (TrainingRun uninterrupted = PrefilledExgrpoRun(setup))
        {
            uninterrupted.RunStep();
            uninterrupted.RunStep();
            uninterrupted.SaveCheckpoint();
            using var stream = new MemoryStream();
            uninterrupted.Experience!.Save(stream);
            saved = stream.ToArray();
            expected = uninterrupted.RunStep().Loss;
        }
        using TrainingRun resumed = setup.NewRun("exgrpo");
        Assert.True(resumed.TryResume());
        using (var stream = new MemoryStream())
        {
            resumed.Experience!.Save(stream);
            Assert.Equal(saved, stream.ToArray());
        }
        Assert.Equal(expected, resumed.RunStep().Loss);
    }

    [Fact]
    public void An_exgrpo_checkpoint_without_its_buffer_is_refused_by_name()
    {
        using var setup = new TinySetup("exgrpo");
        using (TrainingRun run = PrefilledExgrpoRun(setup))
        {
            run.RunStep();
            run.SaveCheckpoint();
            string folder = Checkpoint.CommittedFolder(run.Directory)!;
            File.Delete(Path.Combine(folder, Checkpoint.ExperienceFile));
            CheckpointState state = System.Text.Json.JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(Path.Combine(folder, "state.json")), TrainerOptions.JsonOptions)!;
            Checkpoint.Seal(run.Directory, folder, state.Step, state.Fingerprint); // a consistent checkpoint that lacks the buffer
        }
        using TrainingRun resumed = setup.NewRun("exgrpo");
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains("experience.bin is missing", ex.Message);
    }

    [Theory]
    [InlineData("luffy")]
    [InlineData("exgrpo")]
    public void Old_log_probs_from_the_update_pass_equal_a_separate_pass_bit_for_bit(string method)
    {
        // one update per rollout batch: the loss's own forward pass gives the old log-probs (no separate pass); the
        // losses, gradient norms and (ExGRPO) the buffer's stored log-probs are what the separate pass gives
        using var setup = new TinySetup(method);
        StepRecord[] Run(bool separate, out byte[] buffer)
        {
            using TrainingRun run = new(setup.Options, TrainingMethod.Parse(method), 1, setup.BaseModel.Copy(), new ArithmeticTask(setup.Options, setup.Data), CPU, setup.BaseModel.Copy())
            {
                SeparateOldLogProbPass = separate,
            };
            if (run.Experience is { } experience)
            {
                experience.EndStep(1.0); // collect from the first step on
            }
            StepRecord[] records = [run.RunStep(), run.RunStep(), run.RunStep()];
            using var stream = new MemoryStream();
            run.Experience?.Save(stream);
            buffer = stream.ToArray();
            return records;
        }
        StepRecord[] separate = Run(true, out byte[] separateBuffer), fused = Run(false, out byte[] fusedBuffer);
        Assert.Equal(separate.Select(r => (r.Loss, r.GradNorm, r.PpoKl, r.OnPolicyReward)), fused.Select(r => (r.Loss, r.GradNorm, r.PpoKl, r.OnPolicyReward)));
        Assert.Equal(separateBuffer, fusedBuffer);
    }

    [Fact]
    public void Every_micro_batch_layout_trains_the_same_step_up_to_float_rounding()
    {
        // the layouts differ only in which rows share a micro-batch and how many padding columns the model computes:
        // the same prompts and samples, the same loss and gradient up to float32 rounding of different shapes
        using var setup = new TinySetup();
        (double Loss, double GradNorm, double Reward) Step(string layout)
        {
            setup.Options = setup.Options with { MicroBatch = 2, MicroBatchLayout = layout };
            using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
            StepRecord r = run.RunStep();
            return (r.Loss, r.GradNorm, r.OnPolicyReward);
        }
        var consecutive = Step("consecutive");
        Assert.Equal(Luffy.Objectives.Batching.MicroBatchLayout.Consecutive, setup.Options.Layout);
        foreach (string layout in new[] { "trimmed", "sorted" })
        {
            var other = Step(layout);
            Assert.Equal(consecutive.Reward, other.Reward); // rollouts come before the update: identical
            Assert.Equal(consecutive.Loss, other.Loss, 1e-5);
            Assert.Equal(consecutive.GradNorm, other.GradNorm, 1e-4);
        }
        Assert.Equal(Luffy.Objectives.Batching.MicroBatchLayout.SortedByLength, new TrainerOptions().Layout); // the default
    }

    [Fact]
    public void A_checkpoint_round_trips_the_weights()
    {
        using var setup = new TinySetup();
        double[] saved;
        using (TrainingRun run = setup.NewRun(TrainingMethod.Luffy))
        {
            run.RunStep();
            run.SaveCheckpoint();
            saved = Parameters(run.Model);
        }
        using TrainingRun loaded = setup.NewRun(TrainingMethod.Luffy);
        Assert.True(loaded.TryResume());
        Assert.Equal(saved, Parameters(loaded.Model));
    }

    [Fact]
    public void Evaluation_reports_accuracy_per_split_and_level_and_the_measures()
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(TrainingMethod.Grpo);
        EvalPoint point = run.Evaluate();
        Assert.Equal(["in-distribution", "ood-operands", "ood-length", "validation"], point.Accuracy.Keys);
        Assert.All(point.Accuracy.Values, a => Assert.InRange(a, 0, 1));
        Assert.Equal(new[] { 2, 3, 4, 5, 6 }, point.ByLevel.Keys.Order());
        Assert.Equal(["process-validity", "superficial-imitation", "scratchpad-use", "pass@2", "entropy", "trace-log-likelihood", "trace-start-log-likelihood", "kl-from-base"], point.Measures.Keys);
        Assert.Equal(0.0, point.Measures["kl-from-base"]); // not trained yet: the model is the base
        Assert.Equal([2, 3, 4], point.LevelsOf("validation").Keys.Order());
        Assert.True(point.Measures["trace-log-likelihood"] < 0);
        Assert.True(point.Measures["entropy"] > 0);
    }

    [Fact]
    public void Informative_rows_are_those_of_groups_whose_rewards_differ()
    {
        long[] groups = [7, 7, 7, 3, 3, 9, 9, 9];
        float[] rewards = [1, 0, 1, 1, 1, 0, 0, 0.5f];
        Assert.Equal([0L, 1, 2, 5, 6, 7], TrainingRun.InformativeRows(groups, rewards));
        Assert.Empty(TrainingRun.InformativeRows([1, 1, 2, 2], [0, 0, 1, 1]));
    }

    [Fact]
    public void With_dynamic_sampling_a_step_whose_groups_all_agree_makes_no_update()
    {
        using var setup = new TinySetup();
        // a 3-step pre-trained tiny model solves nothing: every GRPO group is all-wrong, so no group carries a signal
        setup.Options = setup.Options with { DynamicSampling = true, MaxResponseLength = 24 }; // room for every trace
        using TrainingRun run = setup.NewRun(TrainingMethod.Grpo);
        double[] before = Parameters(run.Model);
        StepRecord record = run.RunStep();
        Assert.Equal(0, record.InformativeGroups);
        Assert.Equal(0, record.Updates);
        Assert.Equal(before, Parameters(run.Model));
        // LUFFY's trace is right where the rollouts are wrong: every group differs and is trained on
        using TrainingRun luffy = setup.NewRun(TrainingMethod.Luffy);
        StepRecord mixed = luffy.RunStep();
        Assert.Equal(setup.Options.PromptsPerStep, mixed.InformativeGroups);
        Assert.Equal(setup.Options.PpoEpochs * setup.Options.MiniBatches, mixed.Updates);
    }

    [Fact]
    public void A_kl_penalty_needs_the_base_model_and_moves_the_loss_by_the_coefficient_times_the_kl()
    {
        using var setup = new TinySetup();
        setup.Options = setup.Options with { KlCoefficient = 0.5, PpoEpochs = 1 }; // one update per step: the first step's KL is the base's own
        var task = new ArithmeticTask(setup.Options, setup.Data);
        Assert.Throws<ArgumentException>(() => new TrainingRun(setup.Options, TrainingMethod.Grpo, 1, setup.BaseModel.Copy(), task, CPU));
        using TrainingRun run = new(setup.Options, TrainingMethod.Grpo, 1, setup.BaseModel.Copy(), task, CPU, setup.BaseModel.Copy());
        StepRecord first = run.RunStep();
        Assert.Equal(0.0, first.KlFromReference, 12); // the policy is still the base: KL 0
        StepRecord second = run.RunStep();
        Assert.True(second.KlFromReference > 0, $"KL after one update: {second.KlFromReference}");
    }
}
