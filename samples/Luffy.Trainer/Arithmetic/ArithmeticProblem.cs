using System.Globalization;
using System.Text;

namespace Luffy.Trainer.Arithmetic;

/// <summary>
/// A chain addition a1 + a2 + … + an of two-digit numbers; the difficulty level is the number of operands.
/// Prompt "Q:23+45+7=", answer-only target "A:75", step-by-step trace "23+45=68;68+7=75;A:75".
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
            int running = Operands[0];
            for (int i = 1; i < Operands.Length; i++)
            {
                int next = running + Operands[i];
                text.Append(CultureInfo.InvariantCulture, $"{running}+{Operands[i]}={next};");
                running = next;
            }
            return text.Append(AnswerOnly).ToString();
        }
    }

    public static ArithmeticProblem Random(Random random, int level) =>
        new(Enumerable.Range(0, level).Select(_ => random.Next(1, 100)).ToArray());

    /// <summary>A fixed, seed-independent test set: the same problems on every run and machine.</summary>
    public static IReadOnlyList<ArithmeticProblem> TestSet(IReadOnlyList<int> levels, int perLevel)
    {
        var random = new Random(20_26_11_27);
        return levels.SelectMany(level => Enumerable.Range(0, perLevel).Select(_ => Random(random, level))).ToArray();
    }
}
