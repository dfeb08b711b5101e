using System.Globalization;
using System.Text.Json;

namespace Luffy.Trainer;

/// <summary>
/// Every setting of the sample trainer, with its default. The learning rate and γ default to what the committed sweep
/// (results/sweep.json) chose for LUFFY on validation data, for the default number of steps (a test checks it). Set from the command line or a JSON file (see
/// <see cref="OptionParser"/>, which also holds each option's description).
/// </summary>
public sealed record TrainerOptions
{
    public string Mode { get; init; } = "luffy";
    public string Methods { get; init; } = string.Join(',', Training.TrainingMethod.All.Select(m => m.Name));
    public string? Model { get; init; }
    public string? Data { get; init; }
    public string? EvalData { get; init; }
    public string Dtype { get; init; } = "float32";
    public int MaxPromptLength { get; init; } = 1024;
    public string SystemPrompt { get; init; } = "luffy";
    public bool OpenThink { get; init; } = true;
    public bool AllowPickle { get; init; }
    public string Device { get; init; } = "cpu";
    public int Seed { get; init; } = 1;
    public int Seeds { get; init; } = 3;
    public string SweepLearningRates { get; init; } = "3e-5,1e-4,2e-4";
    public string SweepGammas { get; init; } = "0.01,0.1";
    public string Sweep { get; init; } = DefaultSweep;
    public int Steps { get; init; } = 300;
    public int PromptsPerStep { get; init; } = 16;
    public int SamplesPerPrompt { get; init; } = 8;
    public int TracesPerPrompt { get; init; } = 1;
    public string PrefixStrategy { get; init; } = "full";
    public double LearningRate { get; init; } = 2e-4;
    public int WarmupSteps { get; init; } = 10;
    public string LrSchedule { get; init; } = "cosine";
    public double WeightDecay { get; init; } = 0.01;
    public double GradClip { get; init; } = 1.0;
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public int MaxResponseLength { get; init; } = 48;
    public int MicroBatch { get; init; } = 64;
    public string MicroBatchLayout { get; init; } = "sorted";
    public int RolloutBatch { get; init; } = 256;
    public double Gamma { get; init; } = 0.1;
    public double Entropy { get; init; } = 0.001;
    public double KlCoefficient { get; init; }
    public bool DynamicSampling { get; init; }
    public double ReplayShare { get; init; } = 0.5;
    public double ReplayStart { get; init; } = 0.35;
    public bool ClipOnPolicy { get; init; } = true;
    public bool StdNormalize { get; init; } = true;
    public double SftLossCoefficient { get; init; } = 1.0;
    public int MiniBatches { get; init; } = 1;
    public int PpoEpochs { get; init; } = 2;
    public int MaxOperand { get; init; } = 9;
    public string TrainLevels { get; init; } = "2-4";
    public string OodLevels { get; init; } = "5-6";
    public string OodOperands { get; init; } = "10-19";
    public string PretrainLevels { get; init; } = "2-3";
    public int EvalEvery { get; init; } = 100;
    public int EvalPerLevel { get; init; } = 100;
    public int PassK { get; init; } = 8;
    public int PretrainSteps { get; init; } = 1500;
    public double PretrainTraceFraction { get; init; } = 0.25;
    public string PretrainTraceLevels { get; init; } = "2-3";
    public int PretrainBatch { get; init; } = 64;
    public double PretrainLearningRate { get; init; } = 1e-3;
    public int DModel { get; init; } = 128;
    public int Layers { get; init; } = 3;
    public int Heads { get; init; } = 4;
    public int CheckpointEvery { get; init; } = 50;
    public string Output { get; init; } = "runs";
    public string? Cache { get; init; }
    public bool Tensorboard { get; init; } = true;
    public bool Resume { get; init; }
    public string? Config { get; init; }

    /// <summary>The committed sweep (results/sweep.json, copied next to the program): what <c>--mode compare</c> reads by default.</summary>
    public static string DefaultSweep => Path.Combine(AppContext.BaseDirectory, "results", "sweep.json");

    /// <summary>The folder of the cached base model: <see cref="Cache"/>, or &lt;output&gt;/cache when not set.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string CacheFolder => Cache ?? Path.Combine(Output, "cache");

    /// <summary>The library's layout for <see cref="MicroBatchLayout"/> (validated).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Luffy.Objectives.Batching.MicroBatchLayout Layout => MicroBatchLayout switch
    {
        "consecutive" => Luffy.Objectives.Batching.MicroBatchLayout.Consecutive,
        "trimmed" => Luffy.Objectives.Batching.MicroBatchLayout.Trimmed,
        _ => Luffy.Objectives.Batching.MicroBatchLayout.SortedByLength,
    };

    /// <summary>The method of a single run (<see cref="Mode"/> is not compare).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Training.TrainingMethod Method => Training.TrainingMethod.Parse(Mode);

    /// <summary>The methods this invocation trains: <see cref="CompareMethods"/> for compare and sweep, else <see cref="Method"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<Training.TrainingMethod> RunMethods => Mode is "compare" or "sweep" ? CompareMethods : [Method];

    /// <summary>The methods <c>--mode compare</c> runs, from <see cref="Methods"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<Training.TrainingMethod> CompareMethods =>
        Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => Training.TrainingMethod.Parse(m, "methods")).Distinct().ToArray();

    /// <summary>Parses an inclusive range "10-19" of positive integers.</summary>
    public static (int Low, int High) ParseRange(string text, string option)
    {
        string[] parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int low) && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int high) && low >= 1 && high >= low && high <= 999)
        {
            return (low, high);
        }
        throw new OptionException(option, text, "a range \"low-high\" of whole numbers with 1 <= low <= high <= 999");
    }

    public static IReadOnlyList<int> ParseLevels(string text, string option)
    {
        try
        {
            var levels = new List<int>();
            foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string[] range = part.Split('-');
                int lo = int.Parse(range[0], CultureInfo.InvariantCulture), hi = int.Parse(range[^1], CultureInfo.InvariantCulture);
                levels.AddRange(Enumerable.Range(lo, hi - lo + 1));
            }
            if (levels.Count == 0 || levels.Any(l => l < 2 || l > 12))
            {
                throw new FormatException();
            }
            return levels;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or IndexOutOfRangeException or ArgumentException)
        {
            throw new OptionException(option, text, "a level list such as \"2-4\" or \"2,3,5\" with levels (operand counts) in 2..12");
        }
    }

    /// <summary>Throws an <see cref="OptionException"/> naming the first bad option.</summary>
    public void Validate()
    {
        string[] modes = [.. Training.TrainingMethod.All.Select(m => m.Name), "compare", "sweep"];
        if (!modes.Contains(Mode))
        {
            throw new OptionException("mode", Mode, string.Join(", ", modes), Suggestions.Nearest(Mode, modes));
        }
        if (CompareMethods.Count == 0)
        {
            throw new OptionException("methods", Methods, "a comma-separated list of methods: " + string.Join(", ", Training.TrainingMethod.All.Select(m => m.Name)));
        }
        if (Model is not null || Data is not null)
        {
            if (Model is null)
            {
                throw new OptionException("model", "(none)", "a Hugging Face model folder (config.json, safetensors, tokenizer.json) when --data is given");
            }
            if (Data is null)
            {
                throw new OptionException("data", "(none)", "a JSONL training file when --model is given");
            }
            if (Mode is "compare" or "sweep")
            {
                throw new OptionException("mode", Mode, "a method with --model (" + string.Join(", ", Training.TrainingMethod.All.Select(m => m.Name)) + $"); {Mode} runs the embedded task only");
            }
            if (!Directory.Exists(Model))
            {
                throw new OptionException("model", Model, "an existing folder with config.json, model.safetensors (or an index) and tokenizer.json");
            }
            if (!File.Exists(Data))
            {
                throw new OptionException("data", Data, "an existing JSONL file");
            }
            if (EvalData is not null && !File.Exists(EvalData))
            {
                throw new OptionException("eval-data", EvalData, "an existing JSONL file");
            }
        }
        if (Dtype is not ("float32" or "bfloat16"))
        {
            throw new OptionException("dtype", Dtype, "float32 or bfloat16");
        }
        if (SystemPrompt is not ("luffy" or "qwen" or "none"))
        {
            throw new OptionException("system-prompt", SystemPrompt, "luffy (the reference run's <think> prompt), qwen (\"You are a helpful assistant.\") or none");
        }
        Positive(MaxPromptLength, "max-prompt-length");
        if (Device is not ("cpu" or "cuda") && !Device.StartsWith("cuda:", StringComparison.Ordinal))
        {
            throw new OptionException("device", Device, "cpu, cuda or cuda:N");
        }
        Positive(Steps, "steps");
        Reporting.SweepRunner.Grid(SweepLearningRates);
        Reporting.SweepRunner.Grid(SweepGammas, "sweep-gammas");
        if (Mode == "sweep" && Sweep != DefaultSweep)
        {
            throw new OptionException("sweep", Sweep, "no --sweep with --mode sweep (it writes <output>/sweep/sweep.json; --sweep is what compare reads)");
        }
        if (Mode == "sft" && DynamicSampling)
        {
            throw new OptionException("dynamic-sampling", "true", "false with --mode sft: SFT trains on every trace and has no groups of rewards to filter, so it would change nothing");
        }
        bool runsExGrpo = RunMethods.Contains(Training.TrainingMethod.ExGrpo);
        if (runsExGrpo && DynamicSampling)
        {
            throw new OptionException("dynamic-sampling", "true", "false with exgrpo: ExGRPO records whole groups (all-correct ones retire their question), and the reference never filters them; leave exgrpo out of --methods to use it");
        }
        if (Mode == Training.TrainingMethod.ExGrpo.Name && Model is not null)
        {
            throw new OptionException("mode", Mode, "a method other than exgrpo with --model: the JSONL task has no stable question ids for the experience buffer yet; exgrpo runs the embedded task");
        }
        if (!(ReplayShare > 0 && ReplayShare <= 1))
        {
            throw new OptionException("replay-share", ReplayShare.ToString(CultureInfo.InvariantCulture), "a share in (0, 1]: at most that share of a step's prompts is replayed from the experience buffer");
        }
        if (!(ReplayStart >= 0 && ReplayStart < 1))
        {
            throw new OptionException("replay-start", ReplayStart.ToString(CultureInfo.InvariantCulture), "a share in [0, 1): replay starts after the first step whose batch solves more than that share");
        }
        if (!runsExGrpo && (ReplayShare != 0.5 || ReplayStart != 0.35))
        {
            throw new OptionException(ReplayShare != 0.5 ? "replay-share" : "replay-start", (ReplayShare != 0.5 ? ReplayShare : ReplayStart).ToString(CultureInfo.InvariantCulture), "its default without exgrpo: only ExGRPO replays experience, so it would change nothing");
        }
        if (Mode == "sft" && KlCoefficient > 0)
        {
            throw new OptionException("kl-coefficient", KlCoefficient.ToString(CultureInfo.InvariantCulture), "0 with --mode sft: SFT's loss has no KL term, so the penalty would change nothing");
        }
        Positive(Seeds, "seeds");
        Positive(PromptsPerStep, "prompts-per-step");
        if (SamplesPerPrompt < 2)
        {
            throw new OptionException("samples-per-prompt", SamplesPerPrompt.ToString(CultureInfo.InvariantCulture), "an integer >= 2: a group of one sample has no baseline, so GRPO cannot rank it against anything");
        }
        Positive(MiniBatches, "mini-batches");
        Positive(PpoEpochs, "ppo-epochs");
        if (ClipOnPolicy && PpoEpochs == 1 && MiniBatches == 1 && RunMethods.Any(m => m.UsesOnPolicyClip))
        {
            // one update per rollout batch sees the ratio exactly 1 (SFT and ExGRPO, which ignore the option, may keep it)
            throw new OptionException("clip-on-policy", "true", "false with one update per rollout batch (--ppo-epochs 1 --mini-batches 1): the update sees the rollout's own log-probs, the ratio is exactly 1, so the clip would change nothing");
        }
        if (MiniBatches > PromptsPerStep)
        {
            throw new OptionException("mini-batches", MiniBatches.ToString(CultureInfo.InvariantCulture), $"an integer in [1, prompts-per-step = {PromptsPerStep}] (mini-batches split the step's prompt groups)");
        }
        Positive(PassK, "pass-k");
        if (!(SftLossCoefficient >= 0) || !double.IsFinite(SftLossCoefficient))
        {
            throw new OptionException("sft-loss-coefficient", SftLossCoefficient.ToString(CultureInfo.InvariantCulture), "a finite number >= 0");
        }
        if (TracesPerPrompt < 0 || TracesPerPrompt > SamplesPerPrompt)
        {
            throw new OptionException("traces-per-prompt", TracesPerPrompt.ToString(CultureInfo.InvariantCulture), $"an integer in [0, samples-per-prompt = {SamplesPerPrompt}]");
        }
        if (PrefixStrategy is not ("full" or "random" or "fixed" or "linear"))
        {
            throw new OptionException("prefix-strategy", PrefixStrategy, "full, random, fixed or linear");
        }
        if (MicroBatchLayout is not ("sorted" or "trimmed" or "consecutive"))
        {
            throw new OptionException("micro-batch-layout", MicroBatchLayout, "sorted, trimmed or consecutive");
        }
        if (LrSchedule is not ("constant" or "cosine"))
        {
            throw new OptionException("lr-schedule", LrSchedule, "constant or cosine");
        }
        PositiveReal(LearningRate, "learning-rate");
        PositiveReal(PretrainLearningRate, "pretrain-learning-rate");
        PositiveReal(GradClip, "grad-clip");
        PositiveReal(Gamma, "gamma");
        if (!(Temperature >= 0))
        {
            throw new OptionException("temperature", Temperature.ToString(CultureInfo.InvariantCulture), "a number >= 0 (0 = greedy)");
        }
        if (!(TopP > 0 && TopP <= 1))
        {
            throw new OptionException("top-p", TopP.ToString(CultureInfo.InvariantCulture), "a number in (0, 1]");
        }
        if (!(KlCoefficient >= 0) || !double.IsFinite(KlCoefficient))
        {
            throw new OptionException("kl-coefficient", KlCoefficient.ToString(CultureInfo.InvariantCulture), "a finite number >= 0 (0 = no KL penalty, no reference model)");
        }
        if (!(Entropy >= 0) || !(WeightDecay >= 0))
        {
            throw new OptionException(Entropy >= 0 ? "weight-decay" : "entropy", (Entropy >= 0 ? WeightDecay : Entropy).ToString(CultureInfo.InvariantCulture), "a number >= 0");
        }
        Positive(MaxResponseLength, "max-response-length");
        if (MaxOperand < 1 || MaxOperand > 999)
        {
            throw new OptionException("max-operand", MaxOperand.ToString(CultureInfo.InvariantCulture), "an integer in [1, 999]");
        }
        Positive(MicroBatch, "micro-batch");
        Positive(RolloutBatch, "rollout-batch");
        Positive(EvalEvery, "eval-every");
        Positive(EvalPerLevel, "eval-per-level");
        Positive(PretrainBatch, "pretrain-batch");
        Positive(CheckpointEvery, "checkpoint-every");
        if (PretrainSteps < 0)
        {
            throw new OptionException("pretrain-steps", PretrainSteps.ToString(CultureInfo.InvariantCulture), "an integer >= 0");
        }
        if (!(PretrainTraceFraction >= 0 && PretrainTraceFraction <= 1))
        {
            throw new OptionException("pretrain-trace-fraction", PretrainTraceFraction.ToString(CultureInfo.InvariantCulture), "a number in [0, 1]");
        }
        if (WarmupSteps < 0)
        {
            throw new OptionException("warmup-steps", WarmupSteps.ToString(CultureInfo.InvariantCulture), "an integer >= 0");
        }
        Positive(Layers, "layers");
        Positive(Heads, "heads");
        if (DModel < 8 || DModel % (2 * Heads) != 0)
        {
            throw new OptionException("d-model", DModel.ToString(CultureInfo.InvariantCulture), $"an integer >= 8 divisible by 2 x heads ({Heads}): rotary positions rotate pairs of each head's dimensions");
        }
        ParseLevels(TrainLevels, "train-levels");
        ParseLevels(OodLevels, "ood-levels");
        IReadOnlyList<int> pretrainLevels = ParseLevels(PretrainLevels, "pretrain-levels");
        if (ParseLevels(PretrainTraceLevels, "pretrain-trace-levels").Except(pretrainLevels).FirstOrDefault() is int notPretrained and not 0)
        {
            throw new OptionException("pretrain-trace-levels", PretrainTraceLevels, $"levels among --pretrain-levels ({PretrainLevels}); level {notPretrained} is not pre-trained");
        }
        ParseRange(OodOperands, "ood-operands");
        if (ParseRange(OodOperands, "ood-operands").Low <= MaxOperand)
        {
            throw new OptionException("ood-operands", OodOperands, $"a range above max-operand = {MaxOperand}: those operands must never appear in training prompts");
        }
        if (Output.Length == 0)
        {
            throw new OptionException("output", Output, "a folder path");
        }
    }

    private static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new OptionException(name, value.ToString(CultureInfo.InvariantCulture), "an integer >= 1");
        }
    }

    private static void PositiveReal(double value, string name)
    {
        if (!(value > 0) || !double.IsFinite(value))
        {
            throw new OptionException(name, value.ToString(CultureInfo.InvariantCulture), "a finite number > 0");
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    internal static readonly JsonSerializerOptions JsonLineOptions = new() { WriteIndented = false, PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
