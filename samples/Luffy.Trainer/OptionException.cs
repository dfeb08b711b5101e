namespace Luffy.Trainer;

/// <summary>A bad option value, named with what was expected.</summary>
public sealed class OptionException(string option, string value, string expected)
    : Exception($"--{option} '{value}' is not valid; expected {expected}.")
{
    public string Option { get; } = option;
}
