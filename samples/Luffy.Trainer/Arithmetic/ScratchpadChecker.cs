using System.Globalization;

namespace Luffy.Trainer.Arithmetic;

/// <summary>What <see cref="ScratchpadChecker.Check"/> finds in a response.</summary>
/// <param name="Correct">The final answer "A:n" is the problem's sum (the reward's verdict).</param>
/// <param name="Valid">Every step is arithmetically true: each rewrites the previous state by adding adjacent terms, and the final answer is the sum of the last state.</param>
/// <param name="Steps">The number of scratchpad steps before the answer.</param>
public sealed record ScratchpadVerdict(bool Correct, bool Valid, int Steps);

/// <summary>
/// Process validity of a chain-addition answer such as "8+7+2;15+2;17;A:17" to "Q:3+5+7+2=". The state starts as the
/// prompt's operands; a step is arithmetically true when it is the previous state with one run of two or more adjacent
/// terms replaced by their sum (the solver adds the first two; any adjacent pair, or more at once, is equally true); the
/// answer "A:n" is true when n is the sum of the last state. A correct answer reached through a false step
/// (<c>Correct && !Valid</c>) is superficial imitation: the format of the solution without its arithmetic.
/// </summary>
public static class ScratchpadChecker
{
    public static ScratchpadVerdict Check(ArithmeticProblem problem, string response)
    {
        bool correct = AnswerVerifier.Reward(response, problem.Answer) > 0;
        int marker = response.IndexOf("A:", StringComparison.Ordinal);
        if (marker < 0 || response.IndexOf("A:", marker + 2, StringComparison.Ordinal) >= 0 || !AnswerVerifier.TryParseAnswer(response, out int answer))
        {
            return new ScratchpadVerdict(correct, false, 0);
        }
        string[] steps = response[..marker].Split(';', StringSplitOptions.RemoveEmptyEntries);
        List<long> state = [.. problem.Operands.Select(o => (long)o)];
        foreach (string step in steps)
        {
            List<long>? next = Terms(step);
            if (next is null || !IsRewriting(state, next))
            {
                return new ScratchpadVerdict(correct, false, steps.Length);
            }
            state = next;
        }
        return new ScratchpadVerdict(correct, state.Sum() == answer, steps.Length);
    }

    /// <summary>"8+7+2" as terms; null unless every term is a plain non-negative integer.</summary>
    private static List<long>? Terms(string step)
    {
        var terms = new List<long>();
        foreach (string part in step.Split('+'))
        {
            if (part.Length == 0 || part.Length > 9 || !part.All(char.IsAsciiDigit) || !long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                return null;
            }
            terms.Add(value);
        }
        return terms;
    }

    /// <summary>Whether <paramref name="next"/> is <paramref name="state"/> with one run of ≥ 2 adjacent terms summed.</summary>
    private static bool IsRewriting(List<long> state, List<long> next)
    {
        int merged = state.Count - next.Count + 1; // the length of the summed run
        if (merged < 2)
        {
            return false;
        }
        for (int start = 0; start + merged <= state.Count; start++)
        {
            bool same = true;
            for (int i = 0; i < next.Count && same; i++)
            {
                long expected = i < start ? state[i] : i == start ? state.Skip(start).Take(merged).Sum() : state[i + merged - 1];
                same = next[i] == expected;
            }
            if (same)
            {
                return true;
            }
        }
        return false;
    }
}
