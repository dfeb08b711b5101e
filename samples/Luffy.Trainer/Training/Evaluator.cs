using Luffy.Objectives.Batching;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>
/// The arithmetic task's evaluation, on fixed seed-independent test sets:
/// <list type="bullet">
/// <item>greedy accuracy on three splits: in-distribution (the training levels), ood-operands (the training levels with
/// a first operand from a range never seen as an operand but reached by the traces' running sums, e.g. "Q:8+3+2=" when
/// training operands are 1-6: the learned procedure in a new setting, at the lengths it was trained on; see
/// <see cref="ArithmeticProblem.NewOperandTestSet"/>), and ood-length (longer chains than any trained on);</item>
/// <item>process validity of the in-distribution answers (every scratchpad step arithmetically true) and superficial
/// imitation (the share of correct answers reached through a false step), by <see cref="ScratchpadChecker"/>, and
/// scratchpad use on the hardest training level (the share of its answers written with at least one step, the rest
/// answering directly);</item>
/// <item>exploration on the hardest training level: pass@k of k samples at temperature 1 and the mean per-token entropy
/// of the model's next-token distributions along those samples;</item>
/// <item>imitation: the mean per-token log-likelihood of the solver's traces (EOS included) under the model.</item>
/// </list>
/// </summary>
public sealed class Evaluator
{
    private const int Chunk = 256;
    private readonly TaskData data;
    private readonly TrainerOptions options;
    private readonly MixedBatchBuilder builder;
    private readonly IReadOnlyList<ArithmeticProblem> inDistribution, newOperands, longChains, hardest, validation;
    private readonly int hardestLevel;

    public Evaluator(TaskData data, TrainerOptions options, MixedBatchBuilder builder)
    {
        this.data = data;
        this.options = options;
        this.builder = builder;
        IReadOnlyList<int> trainLevels = TrainerOptions.ParseLevels(options.TrainLevels, "train-levels");
        (int low, int high) = TrainerOptions.ParseRange(options.OodOperands, "ood-operands");
        inDistribution = ArithmeticProblem.TestSet(trainLevels, options.EvalPerLevel, data.MaxOperand);
        newOperands = ArithmeticProblem.NewOperandTestSet(trainLevels, options.EvalPerLevel, data.MaxOperand, low, high);
        longChains = ArithmeticProblem.TestSet(TrainerOptions.ParseLevels(options.OodLevels, "ood-levels"), options.EvalPerLevel, data.MaxOperand);
        validation = ArithmeticProblem.ValidationSet(trainLevels, options.EvalPerLevel, data.MaxOperand, [.. inDistribution, .. newOperands, .. longChains]);
        hardestLevel = trainLevels.Max();
        hardest = inDistribution.Where(p => p.Level == hardestLevel).ToArray();
    }

    /// <summary>The name of the pass@k measure (e.g. <c>pass@8</c>), its key in the evaluation's measures.</summary>
    public string PassAtK => $"pass@{options.PassK}";

    /// <summary>The name of the validation split (<see cref="ArithmeticProblem.ValidationSet"/>): the only split a sweep chooses settings by.</summary>
    public const string Validation = "validation";

    /// <summary>The name of the KL-from-base measure.</summary>
    public const string KlFromBase = "kl-from-base";

    /// <summary>Every split and measure of <paramref name="model"/>; the KL from the base model when <paramref name="reference"/> (the base) is given.</summary>
    public Evaluation Evaluate(CausalLanguageModel model, CausalLanguageModel? reference, CancellationToken cancel = default)
    {
        bool training = model.training;
        model.eval();
        try
        {
            (SplitAccuracy id, ScratchpadVerdict[] verdicts) = Score("in-distribution", model, inDistribution, cancel);
            (SplitAccuracy operands, _) = Score("ood-operands", model, newOperands, cancel);
            (SplitAccuracy length, _) = Score("ood-length", model, longChains, cancel);
            (SplitAccuracy held, _) = Score(Validation, model, validation, cancel);
            int correct = verdicts.Count(v => v.Correct);
            (double passAtK, double entropy) = Explore(model, cancel);
            (double traceLogLikelihood, double traceStart) = TraceLogLikelihoods(model);
            var measures = new Dictionary<string, double>
            {
                ["process-validity"] = verdicts.Average(v => v.Valid ? 1.0 : 0.0),
                ["superficial-imitation"] = correct == 0 ? double.NaN : verdicts.Count(v => v.Correct && !v.Valid) / (double)correct,
                ["scratchpad-use"] = verdicts.Where((_, i) => inDistribution[i].Level == hardestLevel).Average(v => v.Steps > 0 ? 1.0 : 0.0),
                [PassAtK] = passAtK,
                ["entropy"] = entropy,
                ["trace-log-likelihood"] = traceLogLikelihood,
                ["trace-start-log-likelihood"] = traceStart,
            };
            if (reference is not null)
            {
                measures[KlFromBase] = KlFrom(model, reference, cancel);
            }
            return new Evaluation([id, operands, length, held], measures);
        }
        finally
        {
            model.train(training);
        }
    }

    private (SplitAccuracy Accuracy, ScratchpadVerdict[] Verdicts) Score(string split, CausalLanguageModel model, IReadOnlyList<ArithmeticProblem> problems, CancellationToken cancel)
    {
        var verdicts = new ScratchpadVerdict[problems.Count];
        var responses = new string[problems.Count];
        for (int start = 0; start < problems.Count; start += Chunk)
        {
            cancel.ThrowIfCancellationRequested();
            ArithmeticProblem[] part = problems.Skip(start).Take(Chunk).ToArray();
            GenerationResult result = Generation.Generate(model, part.Select(data.PromptTokens).ToArray(), options.MaxResponseLength, 0, 1, null);
            for (int i = 0; i < part.Length; i++)
            {
                responses[start + i] = data.Tokenizer.Decode(result.Tokens[i]);
                verdicts[start + i] = ScratchpadChecker.Check(part[i], responses[start + i]);
            }
        }
        var byLevel = problems.Select((p, i) => (p.Level, verdicts[i].Correct)).GroupBy(x => x.Level)
            .ToDictionary(g => g.Key, g => g.Average(x => x.Correct ? 1.0 : 0.0));
        var examples = problems.Select((p, i) => new Example(p.Level, p.Prompt, responses[i], verdicts[i].Correct)).GroupBy(e => e.Level).SelectMany(g => g.Take(2)).ToArray();
        return (new SplitAccuracy(split, verdicts.Average(v => v.Correct ? 1.0 : 0.0), byLevel, examples), verdicts);
    }

    /// <summary>k samples at temperature 1 of every hardest-level problem (a fixed seed): pass@k and the mean per-token entropy along them.</summary>
    private (double PassAtK, double Entropy) Explore(CausalLanguageModel model, CancellationToken cancel)
    {
        int k = options.PassK;
        ArithmeticProblem[] repeated = hardest.SelectMany(p => Enumerable.Repeat(p, k)).ToArray();
        var solved = new bool[hardest.Count];
        double entropySum = 0;
        long tokens = 0;
        using var generator = new Generator(20_261_130, model.OutputWeight.device);
        for (int start = 0; start < repeated.Length; start += Chunk)
        {
            cancel.ThrowIfCancellationRequested();
            ArithmeticProblem[] part = repeated.Skip(start).Take(Chunk).ToArray();
            GenerationResult result = Generation.Generate(model, part.Select(data.PromptTokens).ToArray(), options.MaxResponseLength, 1.0, 1.0, generator);
            var prompts = new PromptInput[part.Length];
            for (int i = 0; i < part.Length; i++)
            {
                solved[(start + i) / k] |= data.Reward(part[i], result.Tokens[i]) > 0;
                prompts[i] = new PromptInput(i, data.PromptTokens(part[i]), [SampleInput.OnPolicy(result.Tokens[i], reward: 0)]);
            }
            (double sum, long count, _) = Sum(model, prompts, entropy: true);
            entropySum += sum;
            tokens += count;
        }
        return (solved.Average(s => s ? 1.0 : 0.0), tokens == 0 ? double.NaN : entropySum / tokens);
    }

    /// <summary>
    /// KL(model ‖ base) per response token on the in-distribution test prompts: one temperature-1 sample of the model per
    /// prompt (a fixed seed), and at each of its positions the exact KL of the two next-token distributions (a sum over
    /// the vocabulary), averaged over the response tokens. The sum over a response is an unbiased, low-variance estimate of
    /// the sequence KL the RL objective's penalty estimates from one sampled token.
    /// </summary>
    private double KlFrom(CausalLanguageModel model, CausalLanguageModel reference, CancellationToken cancel)
    {
        bool referenceTraining = reference.training;
        reference.eval();
        try
        {
            double sum = 0;
            long tokens = 0;
            using var generator = new Generator(20_261_203, model.OutputWeight.device);
            foreach (ArithmeticProblem[] part in inDistribution.Chunk(Chunk))
            {
                cancel.ThrowIfCancellationRequested();
                GenerationResult result = Generation.Generate(model, part.Select(data.PromptTokens).ToArray(), options.MaxResponseLength, 1.0, 1.0, generator);
                PromptInput[] prompts = part.Select((p, i) => new PromptInput(i, data.PromptTokens(p), [SampleInput.OnPolicy(result.Tokens[i], reward: 0)])).ToArray();
                using var noGrad = no_grad();
                using var scope = NewDisposeScope();
                using TrainingBatch batch = builder.Build(prompts, device: model.OutputWeight.device);
                Tensor Response(CausalLanguageModel m) => m.Forward(batch.InputIds, batch.PositionIds, batch.AttentionMask)
                    .narrow(1, batch.PromptLength - 1, batch.ResponseLength).to_type(ScalarType.Float64).log_softmax(-1);
                Tensor logP = Response(model), logQ = Response(reference);
                Tensor kl = (logP.exp() * (logP - logQ)).sum(-1);
                sum += where(batch.ResponseMask, kl, zeros(1, dtype: ScalarType.Float64, device: kl.device)).sum().item<double>();
                tokens += batch.ResponseMask.sum().item<long>();
            }
            return tokens == 0 ? double.NaN : sum / tokens;
        }
        finally
        {
            reference.train(referenceTraining);
        }
    }

    /// <summary>
    /// From one forward pass over the solver's traces of the in-distribution test problems: the mean log-likelihood per
    /// token (EOS included), and the mean log-likelihood of the first token of the hardest level's traces (the decision
    /// to write a scratchpad).
    /// </summary>
    private (double PerToken, double Start) TraceLogLikelihoods(CausalLanguageModel model)
    {
        double sum = 0, startSum = 0;
        long tokens = 0, starts = 0;
        foreach (ArithmeticProblem[] part in inDistribution.Chunk(Chunk))
        {
            PromptInput[] prompts = part.Select((p, i) => new PromptInput(i, data.PromptTokens(p), [SampleInput.FullTrace(data.Trace(p), reward: 0)])).ToArray();
            long[] hardestRows = [.. part.Select((p, i) => (p.Level, i)).Where(x => x.Level == hardestLevel).Select(x => (long)x.i)];
            (double s, long n, double first) = Sum(model, prompts, entropy: false, hardestRows);
            sum += s;
            tokens += n;
            startSum += first;
            starts += hardestRows.Length;
        }
        return (tokens == 0 ? double.NaN : sum / tokens, starts == 0 ? double.NaN : startSum / starts);
    }

    /// <summary>
    /// Σ over response tokens of the entropy (or the log-prob) under the model, the token count, and Σ of the first
    /// response token's value over the rows <paramref name="firstOfRows"/> names (0 when none).
    /// </summary>
    private (double Sum, long Tokens, double FirstSum) Sum(CausalLanguageModel model, PromptInput[] prompts, bool entropy, long[]? firstOfRows = null)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using TrainingBatch batch = builder.Build(prompts, device: model.OutputWeight.device);
        using TokenStatisticsResult stats = PolicyForward.ResponseStatistics(model, batch);
        Tensor perToken = entropy ? stats.Entropy : stats.LogProbs;
        Tensor values = where(batch.ResponseMask, perToken, zeros(1, device: batch.ResponseMask.device));
        double first = firstOfRows is { Length: > 0 }
            ? perToken.narrow(1, 0, 1).index_select(0, tensor(firstOfRows, device: perToken.device)).to_type(ScalarType.Float64).sum().item<double>()
            : 0;
        return (values.sum().to_type(ScalarType.Float64).item<double>(), batch.ResponseMask.sum().item<long>(), first);
    }
}
