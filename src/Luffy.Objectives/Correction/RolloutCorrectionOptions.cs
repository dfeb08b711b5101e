namespace Luffy.Objectives.Correction;

/// <summary>Options of <see cref="RolloutCorrection"/>. Immutable; each value is validated when it is set.</summary>
public sealed record RolloutCorrectionOptions
{
    /// <summary>Token or sequence weights. The default is <see cref="RolloutCorrectionLevel.Token"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined level.</exception>
    public RolloutCorrectionLevel Level
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(Level), value, "Unknown RolloutCorrectionLevel value.");
    } = RolloutCorrectionLevel.Token;

    /// <summary>The truncation threshold C &gt; 0 (verl's <c>rollout_is_threshold</c>): weights become min(w, C); 1/C is the metrics' lower bound. The default is 2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number greater than 0.</exception>
    public double Threshold
    {
        get;
        init => field = value > 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(Threshold), value, "Threshold must be a finite number greater than 0.");
    } = 2.0;

    /// <summary>
    /// Normalize the truncated weights to mean 1 (verl's <c>rollout_is_batch_normalize</c>): over the corrected tokens
    /// (token level) or over the sequences with at least one corrected token (sequence level); skipped when the mean is
    /// 1e-8 or less. The default is <see langword="false"/>.
    /// </summary>
    public bool BatchNormalize { get; init; }
}
