using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;

namespace Luffy.Trainer.Training;

/// <summary>The embedded chain-addition task as an <see cref="ITrainingTask"/>.</summary>
public sealed class ArithmeticTask : ITrainingTask
{
    private const int PromptPurpose = 1;
    private readonly TrainerOptions options;
    private readonly IReadOnlyList<int> trainLevels;
    private readonly Evaluator evaluator;

    /// <summary>The task with the levels, operand range and evaluation size of <paramref name="options"/>.</summary>
    public ArithmeticTask(TrainerOptions options, TaskData data)
    {
        this.options = options;
        Data = data;
        trainLevels = TrainerOptions.ParseLevels(options.TrainLevels, "train-levels");
        evaluator = new Evaluator(data, options, TrainingMethod.Builder(options, this));
    }

    /// <summary>The task's tokenizer and problem generator.</summary>
    public TaskData Data { get; }

    /// <inheritdoc/>
    public int VocabularySize => Data.Tokenizer.VocabularySize;

    /// <inheritdoc/>
    public int PadTokenId => CharTokenizer.Pad;

    /// <inheritdoc/>
    public IReadOnlyList<int> EosTokenIds { get; } = [CharTokenizer.Eos];

    /// <inheritdoc/>
    public int MaxPromptLength => 64;

    /// <inheritdoc/>
    public string Fingerprint => $"{BaseModel.Fingerprint(options)}|{options.TrainLevels}|{options.MaxResponseLength}";

    /// <inheritdoc/>
    public IReadOnlyList<TaskPrompt> Prompts(int seed, int step, int count)
    {
        var random = new Random(Seeds.Derive(seed, step, PromptPurpose));
        return Data.Sample(random, trainLevels, count).Select(p => new TaskPrompt(Data.PromptTokens(p), Data.Trace(p), p)).ToArray();
    }

    /// <inheritdoc/>
    public double Reward(TaskPrompt prompt, IReadOnlyList<int> response) => Data.Reward((ArithmeticProblem)prompt.Problem, response);

    /// <inheritdoc/>
    public string? LevelLabel => "level (operands)";

    /// <inheritdoc/>
    public Evaluation Evaluate(CausalLanguageModel model, CausalLanguageModel? reference, CancellationToken cancel = default) => evaluator.Evaluate(model, reference, cancel);
}
