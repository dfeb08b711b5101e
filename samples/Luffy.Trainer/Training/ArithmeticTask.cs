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

    /// <summary>The operands as the digits of a number in base max-operand + 1, the first operand least significant (operands are ≥ 1, so the digit count is the level).</summary>
    /// <exception cref="InvalidOperationException">The problem has an operand outside [1, max operand] or too many operands for a 64-bit id.</exception>
    public long QuestionId(TaskPrompt prompt)
    {
        var problem = (ArithmeticProblem)prompt.Problem;
        long id = 0, place = 1, radix = Data.MaxOperand + 1;
        try
        {
            foreach (int operand in problem.Operands)
            {
                if (operand < 1 || operand > Data.MaxOperand)
                {
                    throw new InvalidOperationException($"{problem.Prompt}: operand {operand} is outside the training range [1, {Data.MaxOperand}]; only training questions have ids.");
                }
                id = checked(id + operand * place);
                place = checked(place * radix);
            }
        }
        catch (OverflowException)
        {
            throw new InvalidOperationException($"{problem.Prompt}: {problem.Level} operands in base {radix} do not fit a 64-bit question id.");
        }
        return id;
    }

    /// <inheritdoc/>
    public TaskPrompt Question(long id)
    {
        long radix = Data.MaxOperand + 1;
        var operands = new List<int>();
        for (long rest = id; rest > 0; rest /= radix)
        {
            operands.Add((int)(rest % radix));
        }
        if (operands.Count == 0 || operands.Contains(0))
        {
            throw new ArgumentException($"{id} is no question id of this task (operands 1..{Data.MaxOperand} as base-{radix} digits).", nameof(id));
        }
        var problem = new ArithmeticProblem([.. operands]);
        return new TaskPrompt(Data.PromptTokens(problem), Data.Trace(problem), problem);
    }

    /// <inheritdoc/>
    public double Reward(TaskPrompt prompt, IReadOnlyList<int> response) => Data.Reward((ArithmeticProblem)prompt.Problem, response);

    /// <inheritdoc/>
    public string? LevelLabel => "level (operands)";

    /// <inheritdoc/>
    public Evaluation Evaluate(CausalLanguageModel model, CausalLanguageModel? reference, CancellationToken cancel = default) => evaluator.Evaluate(model, reference, cancel);
}
