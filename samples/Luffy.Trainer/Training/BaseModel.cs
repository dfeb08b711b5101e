using System.Security.Cryptography;
using System.Text;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>
/// The zero-RL starting point: the transformer pre-trained on answer-only data ("Q:3+5+7=" → "A:15") of the easier
/// levels, plus a share of worked solutions of the levels <c>--pretrain-trace-levels</c> names (by default both: one-
/// and two-step solutions, "Q:3+5=" → "8;A:8", "Q:3+5+7=" → "8+7;15;A:15"), so it knows the procedure but has never
/// seen a chain of three: it solves easy problems and hard ones almost never. Cached by a fingerprint of
/// the settings. The base of the default settings ships with the trainer (<c>pretrained/</c>, copied next to the
/// program): the main job starts from the same weights on every machine (pre-training in float32 on another CPU gives
/// other rounding, so another base) and skips minutes of pre-training; other settings pre-train and cache their own.
/// </summary>
public static class BaseModel
{
    public static ModelConfig Config(TrainerOptions o, CharTokenizer tokenizer) => new(tokenizer.VocabularySize, o.DModel, o.Layers, o.Heads, 64 + o.MaxResponseLength + 8);

    public static string Fingerprint(TrainerOptions o) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"v2-rope|{o.MaxOperand}|{o.DModel}|{o.Layers}|{o.Heads}|{o.MaxResponseLength}|{o.PretrainLevels}|{o.PretrainSteps}|{o.PretrainBatch}|{o.PretrainLearningRate}|{o.PretrainTraceFraction}{WorkedSuffix(o)}")))[..16].ToLowerInvariant();

    /// <summary>Worked solutions on the easiest level only (the former fixed rule) keep the former fingerprints; any other choice is named.</summary>
    private static string WorkedSuffix(TrainerOptions o)
    {
        IReadOnlyList<int> worked = TrainerOptions.ParseLevels(o.PretrainTraceLevels, "pretrain-trace-levels");
        return worked.Distinct().SequenceEqual([TrainerOptions.ParseLevels(o.PretrainLevels, "pretrain-levels").Min()]) ? "" : "|worked " + o.PretrainTraceLevels;
    }

    /// <summary>The folder of the shipped base models: <c>pretrained/</c> next to the program.</summary>
    public static string ShippedFolder => Path.Combine(AppContext.BaseDirectory, "pretrained");

    public static TinyTransformer LoadOrPretrain(TrainerOptions o, TaskData data, Device device, Action<string> log, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        ModelConfig config = Config(o, data.Tokenizer);
        string path = Path.Combine(o.CacheFolder, $"base-{Fingerprint(o)}.bin");
        string shipped = Path.Combine(ShippedFolder, $"base-{Fingerprint(o)}.bin");
        manual_seed(1234);
        var model = new TinyTransformer(config);
        if (!File.Exists(path) && File.Exists(shipped))
        {
            path = shipped;
        }
        if (File.Exists(path))
        {
            try
            {
                model.load(path);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new CheckpointException(path, $"is corrupt ({ex.Message}); delete it to pre-train again");
            }
            log($"base model: loaded {path}");
            return model.to(device);
        }

        log($"base model: pre-training {o.PretrainSteps} steps on answer-only problems of levels {o.PretrainLevels} (cached at {path})");
        model.to(device);
        IReadOnlyList<int> levels = TrainerOptions.ParseLevels(o.PretrainLevels, "pretrain-levels");
        var workedLevels = TrainerOptions.ParseLevels(o.PretrainTraceLevels, "pretrain-trace-levels").ToHashSet();
        var optimizer = optim.AdamW(model.parameters(), o.PretrainLearningRate, weight_decay: 0.01);
        var builder = TrainingMethod.Builder(o, new ArithmeticTask(o, data));
        var loss = new MixedPolicyLoss(new PolicyLossOptions { Shaping = new Luffy.Objectives.Shaping.LogShaping(1.0), Aggregation = LossAggregation.TokenMean });
        var random = new Random(4321);
        for (int step = 1; step <= o.PretrainSteps; step++)
        {
            cancel.ThrowIfCancellationRequested(); // Ctrl+C: stop pre-training, cache nothing
            using var scope = NewDisposeScope();
            ArithmeticProblem[] problems = data.Sample(random, levels, o.PretrainBatch);
            PromptInput[] prompts = problems.Select((p, i) =>
            {
                bool worked = workedLevels.Contains(p.Level) && random.NextDouble() < o.PretrainTraceFraction;
                return new PromptInput(i, data.PromptTokens(p), [SampleInput.FullTrace(worked ? data.Trace(p) : data.AnswerOnly(p), reward: 1)]);
            }).ToArray();
            using TrainingBatch batch = builder.Build(prompts, device: device);
            double lr = o.PretrainLearningRate * Math.Min(1.0, step / 50.0) * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * step / o.PretrainSteps)));
            foreach (var group in optimizer.ParamGroups)
            {
                group.LearningRate = lr;
            }
            using TokenStatisticsResult stats = PolicyForward.ResponseStatistics(model, batch);
            using PolicyLossResult result = loss.Compute(new PolicyLossInputs
            {
                LogProbs = stats.LogProbs,
                OldLogProbs = stats.LogProbs.detach(),
                Advantages = ones_like(stats.LogProbs),
                ResponseMask = batch.ResponseMask,
                OffPolicyMask = batch.OffPolicyMask,
            });
            optimizer.zero_grad();
            result.Loss.backward();
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            optimizer.step();
            progress?.Invoke(step, o.PretrainSteps);
        }
        Directory.CreateDirectory(o.CacheFolder);
        string temporary = path + ".tmp";
        model.save(temporary);
        File.Move(temporary, path, overwrite: true);
        return model;
    }
}
