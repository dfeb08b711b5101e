namespace Luffy.Objectives.Losses;

/// <summary>
/// Which count divides a loss under each <see cref="LossAggregation"/>, written once for its three users: the composed
/// aggregation (tensor counts, no device read), the fused kernel and <see cref="LossNormalizers"/> (host counts).
/// </summary>
internal static class LossDenominator
{
    /// <summary>
    /// The denominator of <paramref name="mode"/>: the token count (token-mean), the count of sequences with at least
    /// one token (seq-mean-token-sum, seq-mean-token-mean: the mean over sequences), or C (seq-mean-token-sum-norm).
    /// Only the chosen count is evaluated.
    /// </summary>
    public static T Select<T>(LossAggregation mode, Func<T> tokens, Func<T> sequences, Func<T> sumNormConstant) => mode switch
    {
        LossAggregation.TokenMean => tokens(),
        LossAggregation.SequenceMeanTokenSum or LossAggregation.SequenceMeanTokenMean => sequences(),
        LossAggregation.SequenceMeanTokenSumNorm => sumNormConstant(),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown LossAggregation value."),
    };

    /// <summary>The host-count form: counts of at least 1; C is the option's constant or the padded length T.</summary>
    public static double Of(LossAggregation mode, double? constant, long tokens, long sequences, long columns) =>
        Select<double>(mode, () => Math.Max(tokens, 1), () => Math.Max(sequences, 1), () => constant ?? Math.Max(columns, 1));
}
