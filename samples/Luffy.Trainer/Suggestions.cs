namespace Luffy.Trainer;

/// <summary>
/// The nearest of a few candidate names to a misspelt one (optimal string alignment distance, at most a third of the
/// name's length): for "did you mean" in option errors. System.CommandLine suggests only when it handles the errors
/// itself, and the trainer words its own messages.
/// </summary>
public static class Suggestions
{
    /// <summary>The closest candidate, or <see langword="null"/> when none is close.</summary>
    public static string? Nearest(string value, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int d = Distance(value, candidate);
            if (d < bestDistance)
            {
                (best, bestDistance) = (candidate, d);
            }
        }
        return best is not null && bestDistance <= Math.Max(1, value.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1); // a swap of two neighbours
                }
            }
        }
        return d[a.Length, b.Length];
    }
}
