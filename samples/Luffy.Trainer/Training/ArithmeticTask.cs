using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;

namespace Luffy.Trainer.Training;

/// <summary>The embedded chain-addition task as an <see cref="ITrainingTask"/>.</summary>
public sealed class ArithmeticTask(TrainerOptions options, TaskData data) : ITrainingTask
{
    private const int PromptPurpose = 1;
    private readonly IReadOnlyList<int> trainLevels = TrainerOptions.ParseLevels(options.TrainLevels, "train-levels");
    private readonly Evaluator evaluator = new(data, TrainerOptions.ParseLevels(options.TrainLevels, "train-levels"), TrainerOptions.ParseLevels(options.OodLevels, "ood-levels"), options.EvalPerLevel, options.MaxResponseLength);

    public TaskData Data { get; } = data;

    public int VocabularySize => Data.Tokenizer.VocabularySize;

    public int PadTokenId => CharTokenizer.Pad;

    public IReadOnlyList<int> EosTokenIds { get; } = [CharTokenizer.Eos];

    public int MaxPromptLength => 64;

    public string Fingerprint => $"{BaseModel.Fingerprint(options)}|{options.TrainLevels}";

    public IReadOnlyList<TaskPrompt> Prompts(int seed, int step, int count)
    {
        var random = new Random(Seeds.Derive(seed, step, PromptPurpose));
        return Data.Sample(random, trainLevels, count).Select(p => new TaskPrompt(Data.PromptTokens(p), Data.Trace(p), p)).ToArray();
    }

    public double Reward(TaskPrompt prompt, IReadOnlyList<int> response) => Data.Reward((ArithmeticProblem)prompt.Problem, response);

    public (SplitAccuracy InDistribution, SplitAccuracy OutOfDistribution) Evaluate(CausalLanguageModel model) => evaluator.Evaluate(model);
}
