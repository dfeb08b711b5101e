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

    /// <summary>
    /// The truncation threshold C ≥ 1 (verl's <c>rollout_is_threshold</c>): weights become min(w, C); 1/C is the metrics'
    /// lower bound. A C below 1 would cap every weight, including those of tokens the two policies agree on (w = 1), below 1.
    /// The default is 2.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number of at least 1.</exception>
    public double Threshold
    {
        get;
        init => field = value >= 1 && double.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(Threshold), value, "Threshold must be a finite number >= 1: truncated importance sampling caps weights at C, and C < 1 would scale down even the weights of tokens both policies agree on (w = 1).");
    } = 2.0;

    /// <summary>
    /// Normalize the truncated weights to mean 1 (verl's <c>rollout_is_batch_normalize</c>): over the corrected tokens
    /// (token level) or over the sequences with at least one corrected token (sequence level); skipped when the mean is
    /// 1e-8 or less. The default is <see langword="false"/>.
    /// </summary>
    public bool BatchNormalize { get; init; }
}
