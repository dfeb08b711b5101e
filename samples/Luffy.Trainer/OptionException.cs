namespace Luffy.Trainer;

/// <summary>A bad option: its message names the option, the value and what is allowed, and the nearest valid name when there is one.</summary>
public sealed class OptionException : Exception
{
    /// <summary>A bad value: "--name 'value' is not valid; expected ...".</summary>
    public OptionException(string option, string value, string expected, string? suggestion = null)
        : base($"--{option} '{value}' is not valid; expected {expected}." + (suggestion is null ? "" : $" Did you mean {suggestion}?"))
    {
        Option = option;
    }

    private OptionException(string option, string message, bool raw)
        : base(message)
    {
        _ = raw;
        Option = option;
    }

    /// <summary>The option, without its dashes.</summary>
    public string Option { get; }

    /// <summary>A name that is not an option, with the nearest option when one is close.</summary>
    public static OptionException Unknown(string name, string? suggestion, string? source = null) =>
        new(name, (source is null ? $"--{name} is not an option" : $"{source}: \"{name}\" is not an option")
            + (suggestion is null ? "" : source is null ? $"; did you mean --{suggestion}?" : $"; did you mean \"{suggestion}\"?")
            + " (--help lists every option)", true);

    /// <summary>A message already worded as the trainer words errors.</summary>
    public static OptionException WithMessage(string option, string message) => new(option, message, true);
}
