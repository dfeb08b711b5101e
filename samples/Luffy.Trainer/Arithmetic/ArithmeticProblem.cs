using System.Globalization;
using System.Text;

namespace Luffy.Trainer.Arithmetic;

/// <summary>
/// A chain addition a1 + a2 + … + an of numbers in [1, max operand]; the difficulty level is the number of operands.
/// Prompt "Q:3+5+7+2=", answer-only target "A:17", step-by-step trace (a scratchpad that rewrites the remaining
/// sum after each addition) "8+7+2;15+2;17;A:17".
/// </summary>
public sealed record ArithmeticProblem(int[] Operands)
{
    public int Level => Operands.Length;

    public int Answer => Operands.Sum();

    public string Prompt => "Q:" + string.Join('+', Operands.Select(o => o.ToString(CultureInfo.InvariantCulture))) + "=";

    public string AnswerOnly => "A:" + Answer.ToString(CultureInfo.InvariantCulture);

    /// <summary>The programmatic solver's step-by-step solution: the stand-in for a stronger model's reasoning trace.</summary>
    public string Trace
    {
        get
        {
            var text = new StringBuilder();
            var remaining = new List<int>(Operands);
            while (remaining.Count > 1)
            {
                remaining[1] += remaining[0];
                remaining.RemoveAt(0);
                text.Append(string.Join('+', remaining.Select(o => o.ToString(CultureInfo.InvariantCulture)))).Append(';');
            }
            return text.Append(AnswerOnly).ToString();
        }
    }

    public static ArithmeticProblem Random(Random random, int level, int maxOperand) =>
        new(Enumerable.Range(0, level).Select(_ => random.Next(1, maxOperand + 1)).ToArray());

    /// <summary>
    /// A fixed test set of problems whose first operand is drawn from <paramref name="low"/>..<paramref name="high"/>
    /// (numbers never seen as operands in training), the others from 1..<paramref name="maxOperand"/>. The first
    /// operand is the one the scratchpad treats like a running sum ("Q:8+3+2=" → "11+2;13;A:13"), and running sums of
    /// that size are what the solver's traces add operands to all the time: a model that learned the procedure has
    /// seen every addition these problems need; a model that memorized answers to prompts has not.
    /// </summary>
    public static IReadOnlyList<ArithmeticProblem> NewOperandTestSet(IReadOnlyList<int> levels, int perLevel, int maxOperand, int low, int high)
    {
        var random = new Random(20_26_11_30);
        return levels.SelectMany(level => Enumerable.Range(0, perLevel).Select(_ =>
        {
            int[] operands = Random(random, level, maxOperand).Operands;
            operands[0] = random.Next(low, high + 1);
            return new ArithmeticProblem(operands);
        })).ToArray();
    }

    /// <summary>
    /// A fixed validation set for choosing settings (learning rates): <paramref name="perLevel"/> problems per level drawn
    /// with their own seed, none of them a problem of <paramref name="exclude"/> (the test sets), so that selection never
    /// sees a test problem. A level with few distinct problems (level 2 with operands 1-9 has 81) repeats the ones the
    /// test set leaves over.
    /// </summary>
    /// <exception cref="ArgumentException">A level has no problem outside <paramref name="exclude"/>.</exception>
    public static IReadOnlyList<ArithmeticProblem> ValidationSet(IReadOnlyList<int> levels, int perLevel, int maxOperand, IEnumerable<ArithmeticProblem> exclude)
    {
        var excluded = exclude.Select(p => p.Prompt).ToHashSet();
        var random = new Random(20_26_12_03);
        var set = new List<ArithmeticProblem>();
        foreach (int level in levels)
        {
            for (int n = 0, draws = 0; n < perLevel; draws++)
            {
                if (draws == 100_000 * (n + 1))
                {
                    throw new ArgumentException($"level {level} has (almost) no problem with operands 1..{maxOperand} outside the test sets: nothing is left to validate on.", nameof(exclude));
                }
                ArithmeticProblem problem = Random(random, level, maxOperand);
                if (!excluded.Contains(problem.Prompt))
                {
                    set.Add(problem);
                    n++;
                }
            }
        }
        return set;
    }

    /// <summary>A fixed, seed-independent test set: the same problems on every run and machine.</summary>
    public static IReadOnlyList<ArithmeticProblem> TestSet(IReadOnlyList<int> levels, int perLevel, int maxOperand)
    {
        var random = new Random(20_26_11_27);
        return levels.SelectMany(level => Enumerable.Range(0, perLevel).Select(_ => Random(random, level, maxOperand))).ToArray();
    }
}
