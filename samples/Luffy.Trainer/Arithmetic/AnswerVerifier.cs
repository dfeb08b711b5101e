using System.Globalization;

namespace Luffy.Trainer.Arithmetic;

/// <summary>
/// The rule-based reward: 1 when the response ends with the final-answer marker "A:" followed by exactly the
/// correct integer, 0 otherwise (a missing or repeated marker, extra characters, leading zeros or signs: 0).
/// </summary>
public static class AnswerVerifier
{
    public static double Reward(string response, int expected) => TryParseAnswer(response, out int answer) && answer == expected ? 1.0 : 0.0;

    public static bool TryParseAnswer(string response, out int answer)
    {
        answer = 0;
        if (string.IsNullOrEmpty(response))
        {
            return false;
        }
        int marker = response.IndexOf("A:", StringComparison.Ordinal);
        if (marker < 0 || response.IndexOf("A:", marker + 2, StringComparison.Ordinal) >= 0)
        {
            return false;
        }
        string digits = response[(marker + 2)..];
        if (digits.Length == 0 || digits.Length > 9 || !digits.All(char.IsAsciiDigit) || (digits.Length > 1 && digits[0] == '0'))
        {
            return false;
        }
        // everything before the marker must be a well-formed (possibly empty) list of "x+y=z;" steps
        string steps = response[..marker];
        if (steps.Length > 0 && !steps.EndsWith(';'))
        {
            return false;
        }
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out answer);
    }
}
