using Luffy.Objectives.Batching;
using Luffy.Objectives.Experience;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>ExGRPO's part of a run: the experience buffer, the replay plan of a step, and the recording of its groups.</summary>
public sealed partial class TrainingRun
{
    private ExperienceBuffer? experience;

    /// <summary>The run's experience buffer (ExGRPO), or <see langword="null"/> for the other methods.</summary>
    public ExperienceBuffer? Experience => experience;

    /// <summary>Replaces the buffer with the one in the committed checkpoint (verified against its manifest by <see cref="Checkpoint.Load"/>).</summary>
    /// <exception cref="CheckpointException">The checkpoint holds no buffer, or a corrupt one.</exception>
    private void LoadExperience()
    {
        string path = Path.Combine(Checkpoint.CommittedFolder(Directory)!, Checkpoint.ExperienceFile);
        if (!File.Exists(path))
        {
            throw new CheckpointException(path, $"is missing: the checkpoint of a {Method.Name} run holds its experience buffer");
        }
        try
        {
            using FileStream stream = File.OpenRead(path);
            experience = ExperienceBuffer.Load(stream, ExperienceOptionsFor(options, Seed));
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException(path, $"is corrupt ({e.Message})");
        }
    }

    /// <summary>The buffer's options for a run: G, the replay share and start from the trainer's options, the rest the official script's.</summary>
    internal static ExperienceOptions ExperienceOptionsFor(TrainerOptions options, int seed) => new()
    {
        SamplesPerPrompt = options.SamplesPerPrompt,
        ReplayShare = options.ReplayShare,
        StartSolvedShare = options.ReplayStart,
        Seed = seed,
    };

    /// <summary>
    /// The step's questions and their groups' traces: the loader's prompts, or, once replay has started, n_exp questions
    /// drawn from the buffer (each with its lowest-entropy stored trajectory under the current model as the replayed
    /// member) and the first B − n_exp of the loader's prompts fresh.
    /// </summary>
    private (TaskPrompt Prompt, long Question, OffPolicyTrace? Replayed)[] ExperiencePrompts(int step, IReadOnlyList<TaskPrompt> loader)
    {
        ReplayPlan plan = experience!.PlanBatch([.. loader.Select(task.QuestionId)], step);
        var chosen = new List<(TaskPrompt, long, OffPolicyTrace?)>();
        if (plan.Replay.Count > 0)
        {
            double[][] entropies = MeanEntropies([.. plan.Replay.Select(q => (task.Question(q), experience.Trajectories(q)))]);
            for (int i = 0; i < plan.Replay.Count; i++)
            {
                long question = plan.Replay[i];
                int pick = experience.ChooseTrajectory(question, entropies[i], step);
                chosen.Add((task.Question(question), question, experience.Trajectories(question)[pick].ToTrace()));
            }
        }
        chosen.AddRange(loader.Take(plan.Fresh.Count).Select(p => (p, task.QuestionId(p), (OffPolicyTrace?)null)));
        return [.. chosen];
    }

    /// <summary>The mean token entropy of every stored trajectory of each question under the current model, one forward pass over all of them (by micro-batches).</summary>
    private double[][] MeanEntropies(IReadOnlyList<(TaskPrompt Prompt, IReadOnlyList<ExperienceTrajectory> Stored)> questions)
    {
        var rows = new List<PromptInput>();
        foreach ((TaskPrompt prompt, IReadOnlyList<ExperienceTrajectory> stored) in questions)
        {
            rows.AddRange(stored.Select(t => new PromptInput(rows.Count, prompt.Tokens, [SampleInput.FullTrace(t.ToTrace(), reward: 0)])));
        }
        using var scope = NewDisposeScope();
        using TrainingBatch batch = builder.Build(rows, device: device);
        var means = new double[rows.Count];
        Model.eval();
        using (no_grad())
        {
            using MicroBatches microBatches = MicroBatchesOf(batch);
            foreach (MicroBatch m in microBatches)
            {
                using TokenStatisticsResult s = PolicyForward.ResponseStatistics(Model, m.Batch);
                IReadOnlyList<double> part = ExperienceBuffer.MeanEntropies(s.Entropy, m.Batch.ResponseMask);
                for (int k = 0; k < m.Count; k++)
                {
                    means[m.Rows[k]] = part[k];
                }
                m.Dispose();
            }
        }
        Model.train();
        var result = new double[questions.Count][];
        int next = 0;
        for (int q = 0; q < questions.Count; q++)
        {
            result[q] = [.. means.Skip(next).Take(questions[q].Stored.Count)];
            next += questions[q].Stored.Count;
        }
        return result;
    }

    /// <summary>
    /// Records every group of the step in the buffer (its members' response tokens, old log-probs and rewards: ExGRPO
    /// stores the correct ones once replay has started, and retires questions whose whole group is correct), then ends
    /// the step with the batch's solved share. Returns the share. The group ids, rewards and response lengths are the
    /// batch's, already on the host.
    /// </summary>
    private double RecordExperience(TrainingBatch batch, Tensor old, IReadOnlyDictionary<long, long> questionOf, long[] groupIds, float[] rewards, long[] lengths)
    {
        long[] ids = HostRead<long>(batch.ResponseIds());
        float[] logProbs = HostRead<float>(old);
        int t = batch.ResponseLength;
        foreach (IGrouping<long, int> group in Enumerable.Range(0, batch.Count).GroupBy(i => groupIds[i]))
        {
            ExperienceCandidate[] members = [.. group.Select(i =>
            {
                int start = i * t, end = start + (int)lengths[i]; // the row's response tokens
                return new ExperienceCandidate(Array.ConvertAll(ids[start..end], id => (int)id), logProbs[start..end], rewards[i]);
            })];
            experience!.RecordGroup(questionOf[group.Key], members);
        }
        double solved = rewards.Average(r => r >= 1 ? 1.0 : 0.0);
        experience!.EndStep(solved);
        return solved;
    }
}
