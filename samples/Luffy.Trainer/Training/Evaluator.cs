using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;

namespace Luffy.Trainer.Training;

/// <summary>Accuracy of one split.</summary>
public sealed record SplitAccuracy(string Split, double Accuracy, IReadOnlyDictionary<int, double> ByLevel, IReadOnlyList<Example> Examples);

/// <summary>One test problem with the model's greedy answer.</summary>
public sealed record Example(int Level, string Prompt, string Response, bool Correct);

/// <summary>Greedy-decoding accuracy on the fixed in-distribution and out-of-distribution test sets.</summary>
public sealed class Evaluator(TaskData data, IReadOnlyList<int> trainLevels, IReadOnlyList<int> oodLevels, int perLevel, int maxResponseLength)
{
    private readonly IReadOnlyList<ArithmeticProblem> inDistribution = ArithmeticProblem.TestSet(trainLevels, perLevel, data.MaxOperand);
    private readonly IReadOnlyList<ArithmeticProblem> outOfDistribution = ArithmeticProblem.TestSet(oodLevels, perLevel, data.MaxOperand);

    public (SplitAccuracy InDistribution, SplitAccuracy OutOfDistribution) Evaluate(CausalLanguageModel model)
    {
        bool training = model.training;
        model.eval();
        try
        {
            return (Score("in-distribution", model, inDistribution), Score("out-of-distribution", model, outOfDistribution));
        }
        finally
        {
            model.train(training);
        }
    }

    private SplitAccuracy Score(string split, CausalLanguageModel model, IReadOnlyList<ArithmeticProblem> problems)
    {
        var correct = new bool[problems.Count];
        var responses = new string[problems.Count];
        const int chunk = 256;
        for (int start = 0; start < problems.Count; start += chunk)
        {
            ArithmeticProblem[] part = problems.Skip(start).Take(chunk).ToArray();
            GenerationResult result = Generation.Generate(model, part.Select(data.PromptTokens).ToArray(), maxResponseLength, 0, 1, null);
            for (int i = 0; i < part.Length; i++)
            {
                correct[start + i] = data.Reward(part[i], result.Tokens[i]) > 0;
                responses[start + i] = data.Tokenizer.Decode(result.Tokens[i]);
            }
        }
        var byLevel = problems.Select((p, i) => (p.Level, correct[i])).GroupBy(x => x.Level)
            .ToDictionary(g => g.Key, g => g.Average(x => x.Item2 ? 1.0 : 0.0));
        var examples = problems.Select((p, i) => new Example(p.Level, p.Prompt, responses[i], correct[i])).GroupBy(e => e.Level).SelectMany(g => g.Take(2)).ToArray();
        return new SplitAccuracy(split, correct.Average(c => c ? 1.0 : 0.0), byLevel, examples);
    }
}
