using System.Globalization;
using System.Text.RegularExpressions;

namespace Luffy.Trainer.Reasoning;

/// <summary>
/// Rule-based reward for math answers: the last <c>\boxed{…}</c> (or <c>\fbox{…}</c>) of a response is compared with
/// the ground truth. Both are normalized (dollar signs, <c>\left</c>/<c>\right</c>, spacing commands, <c>\text{}</c>,
/// <c>\dfrac</c>, degrees, percent, trailing period, "x =", thousands separators, Unicode minus) and then compared as
/// numbers when both evaluate — integers, decimals, fractions (<c>a/b</c>, <c>\frac{a}{b}</c>, <c>\frac12</c>), powers
/// (<c>^</c>), roots (<c>\sqrt{}</c>, <c>\sqrt[n]{}</c>), <c>\pi</c>, products (explicit or implicit) — to a relative
/// 1e-8, otherwise as normalized text. Tuples and intervals compare element by element.
/// </summary>
public static partial class MathAnswerVerifier
{
    private const double RelativeTolerance = 1e-8;

    /// <summary>1 when the response's last boxed answer equals the ground truth, else 0 (also when there is no boxed answer).</summary>
    public static double Reward(string response, string groundTruth)
    {
        string? answer = ExtractBoxed(response);
        return answer is not null && Equivalent(answer, ExtractBoxed(groundTruth) ?? groundTruth) ? 1.0 : 0.0;
    }

    /// <summary>The content of the last <c>\boxed{…}</c> / <c>\fbox{…}</c> (braces balanced; also <c>\boxed 5</c>), or null.</summary>
    public static string? ExtractBoxed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int start = Math.Max(text.LastIndexOf("\\boxed", StringComparison.Ordinal), text.LastIndexOf("\\fbox", StringComparison.Ordinal));
        if (start < 0)
        {
            return null;
        }
        int i = start + (text.AsSpan(start).StartsWith("\\boxed") ? 6 : 5);
        if (i < text.Length && text[i] == ' ')
        {
            int end = i + 1;
            while (end < text.Length && text[end] is not ('$' or ' ' or '\n'))
            {
                end++;
            }
            return text[(i + 1)..end];
        }
        if (i >= text.Length || text[i] != '{')
        {
            return null;
        }
        int depth = 0;
        for (int j = i; j < text.Length; j++)
        {
            depth += text[j] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                return text[(i + 1)..j];
            }
        }
        return null; // unbalanced: the answer was cut off
    }

    /// <summary>Whether two answers are the same after normalization, as numbers or as text.</summary>
    public static bool Equivalent(string answer, string groundTruth)
    {
        string a = Normalize(answer), b = Normalize(groundTruth);
        if (a.Length == 0 || b.Length == 0)
        {
            return false;
        }
        if (a == b || SameValue(a, b))
        {
            return true;
        }
        // tuples, sets and intervals: same delimiters, element-wise equal
        if (a.Length > 1 && b.Length > 1 && a[0] == b[0] && a[^1] == b[^1] && a[0] is '(' or '[' or '{' && a[^1] is ')' or ']' or '}')
        {
            string[] x = SplitTopLevel(a[1..^1]), y = SplitTopLevel(b[1..^1]);
            return x.Length > 1 && x.Length == y.Length && x.Zip(y).All(p => p.First == p.Second || SameValue(p.First, p.Second));
        }
        return false;
    }

    private static bool SameValue(string a, string b)
    {
        double? x = Evaluate(a), y = Evaluate(b);
        return x is double u && y is double v && (u == v || Math.Abs(u - v) <= RelativeTolerance * Math.Max(Math.Abs(u), Math.Abs(v)));
    }

    /// <summary>The canonical text of an answer.</summary>
    public static string Normalize(string text)
    {
        string s = text.Trim().Replace('−', '-').Replace("\\$", "");
        s = s.Replace("\\left", "").Replace("\\right", "").Replace("\\displaystyle", "")
             .Replace("\\dfrac", "\\frac").Replace("\\tfrac", "\\frac")
             .Replace("\\!", "").Replace("\\,", "").Replace("\\;", "").Replace("\\:", "").Replace("\\ ", "").Replace("~", "")
             .Replace("{,}", ",").Replace("\\cdot", "*").Replace("\\times", "*").Replace("\\%", "").Replace("%", "")
             .Replace("^\\circ", "").Replace("^{\\circ}", "").Replace("°", "").Replace("\\circ", "");
        s = TextCommand().Replace(s, "$1");
        s = s.Replace("$", "").Replace("\\(", "").Replace("\\)", "").Replace("\\[", "").Replace("\\]", "");
        s = Assignment().Replace(s, "$1");
        s = new string(s.Where(c => !char.IsWhiteSpace(c)).ToArray());
        s = s.TrimEnd('.');
        if (ThousandsSeparated().IsMatch(s))
        {
            s = s.Replace(",", "");
        }
        return s;
    }

    [GeneratedRegex(@"\\(?:text|textbf|textit|mathrm|mathbf|operatorname|mbox)\{([^{}]*)\}")]
    private static partial Regex TextCommand();

    [GeneratedRegex(@"^\s*[a-zA-Z]\s*=\s*(.+)$", RegexOptions.Singleline)]
    private static partial Regex Assignment();

    [GeneratedRegex(@"^-?\d{1,3}(,\d{3})+(\.\d+)?$")]
    private static partial Regex ThousandsSeparated();

    private static string[] SplitTopLevel(string s)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            depth += s[i] switch { '(' or '[' or '{' => 1, ')' or ']' or '}' => -1, _ => 0 };
            if (s[i] == ',' && depth == 0)
            {
                parts.Add(s[start..i]);
                start = i + 1;
            }
        }
        parts.Add(s[start..]);
        return parts.ToArray();
    }

    /// <summary>The value of a normalized expression, or null when it is not a closed numeric expression.</summary>
    public static double? Evaluate(string normalized)
    {
        var parser = new Parser(normalized);
        try
        {
            double value = parser.Expression();
            return parser.AtEnd && double.IsFinite(value) ? value : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Recursive descent over + − * / ^, parentheses/braces, \frac, \sqrt, \pi and implicit products.</summary>
    private sealed class Parser(string s)
    {
        private int i;

        public bool AtEnd => i == s.Length;

        private char Peek => i < s.Length ? s[i] : '\0';

        private bool Starts(string token) => s.AsSpan(i).StartsWith(token, StringComparison.Ordinal);

        public double Expression()
        {
            double value = Term();
            while (Peek is '+' or '-')
            {
                value = s[i++] == '+' ? value + Term() : value - Term();
            }
            return value;
        }

        private double Term()
        {
            double value = Unary();
            while (true)
            {
                if (Peek == '*')
                {
                    i++;
                    value *= Unary();
                }
                else if (Peek == '/')
                {
                    i++;
                    value /= Unary();
                }
                else if (Peek is '(' or '{' || Starts("\\frac") || Starts("\\sqrt") || Starts("\\pi") || char.IsDigit(Peek))
                {
                    value *= Power(); // implicit product: 2\sqrt{2}, 3(4), \pi2 is not allowed below
                }
                else
                {
                    return value;
                }
            }
        }

        private double Unary() => Peek switch
        {
            '-' => Negate(),
            '+' => Skip(),
            _ => Power(),
        };

        private double Negate()
        {
            i++;
            return -Unary();
        }

        private double Skip()
        {
            i++;
            return Unary();
        }

        private double Power()
        {
            double value = Atom();
            if (Peek == '^')
            {
                i++;
                double exponent = Peek == '{' ? Group('{', '}') : Peek == '-' ? Negated() : Digit();
                value = Math.Pow(value, exponent);
            }
            return value;
        }

        private double Negated()
        {
            i++;
            return -Atom();
        }

        private double Digit() => char.IsDigit(Peek) ? s[i++] - '0' : Atom();

        private double Group(char open, char close)
        {
            if (Peek != open)
            {
                throw new FormatException();
            }
            i++;
            double value = Expression();
            if (Peek != close)
            {
                throw new FormatException();
            }
            i++;
            return value;
        }

        /// <summary>A braced argument, or one digit / one command (\frac12, \sqrt2).</summary>
        private double Argument() => Peek == '{' ? Group('{', '}') : char.IsDigit(Peek) ? s[i++] - '0' : Atom();

        private double Atom()
        {
            if (Peek == '(')
            {
                return Group('(', ')');
            }
            if (Peek == '{')
            {
                return Group('{', '}');
            }
            if (Starts("\\frac"))
            {
                i += 5;
                double numerator = Argument();
                return numerator / Argument();
            }
            if (Starts("\\sqrt"))
            {
                i += 5;
                double degree = 2;
                if (Peek == '[')
                {
                    degree = Group('[', ']');
                }
                double radicand = Argument();
                return degree == 2 ? Math.Sqrt(radicand) : Math.Sign(radicand) * Math.Pow(Math.Abs(radicand), 1 / degree);
            }
            if (Starts("\\pi"))
            {
                i += 3;
                return Math.PI;
            }
            int start = i;
            while (char.IsDigit(Peek) || Peek == '.')
            {
                i++;
            }
            if (i == start || !double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            {
                throw new FormatException();
            }
            return number;
        }
    }
}
