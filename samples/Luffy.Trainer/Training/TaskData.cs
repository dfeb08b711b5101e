using Luffy.Objectives.Batching;
using Luffy.Trainer.Arithmetic;

namespace Luffy.Trainer.Training;

/// <summary>Turns arithmetic problems into the token sequences the model and the group builder use.</summary>
public sealed class TaskData(CharTokenizer tokenizer, int maxOperand = 9)
{
    public int MaxOperand { get; } = maxOperand;

    public CharTokenizer Tokenizer { get; } = tokenizer;

    /// <summary>BOS + "Q:a+b=".</summary>
    public int[] PromptTokens(ArithmeticProblem problem) => [CharTokenizer.Bos, .. Tokenizer.Encode(problem.Prompt)];

    /// <summary>The step-by-step solution as an off-policy trace (the builder appends EOS).</summary>
    public OffPolicyTrace Trace(ArithmeticProblem problem) => new(Tokenizer.Encode(problem.Trace));

    /// <summary>"A:75" as a trace: the answer-only target of pre-training.</summary>
    public OffPolicyTrace AnswerOnly(ArithmeticProblem problem) => new(Tokenizer.Encode(problem.AnswerOnly));

    public double Reward(ArithmeticProblem problem, IReadOnlyList<int> response) => AnswerVerifier.Reward(Tokenizer.Decode(response), problem.Answer);

    public ArithmeticProblem[] Sample(Random random, IReadOnlyList<int> levels, int count) =>
        Enumerable.Range(0, count).Select(_ => ArithmeticProblem.Random(random, levels[random.Next(levels.Count)], MaxOperand)).ToArray();
}
