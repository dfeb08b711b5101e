namespace Luffy.Objectives.Correction;

/// <summary>
/// verl's importance-sampling metrics of one batch (<c>rollout_corr/rollout_is_*</c>), computed before truncation
/// (after the ±20 clamp of the log-ratio) over the corrected tokens, or over the sequences where named so.
/// </summary>
public sealed class RolloutCorrectionMetrics
{
    private readonly double[] v;

    internal RolloutCorrectionMetrics(double[] values, double threshold, bool batchNormalized)
    {
        v = values;
        Threshold = threshold;
        BatchNormalized = batchNormalized;
    }

    internal const int Slots = 17;

    /// <summary>The threshold C the weights were truncated at.</summary>
    public double Threshold { get; }

    /// <summary>Whether the weights were normalized to mean 1.</summary>
    public bool BatchNormalized { get; }

    /// <summary>Mean weight over the corrected tokens ("rollout_is_mean").</summary>
    public double Mean => v[0];

    /// <summary>The largest weight ("rollout_is_max"; sequence level: exp(min(max Σ log-ratio, 20)) over the sequences).</summary>
    public double Max => v[1];

    /// <summary>The smallest weight ("rollout_is_min"; sequence level: exp(min Σ log-ratio) over the sequences, unclamped).</summary>
    public double Min => v[2];

    /// <summary>Share above C ("rollout_is_ratio_fraction_high"): of tokens (token level) or of sequences, from the unclamped log-sum (sequence level).</summary>
    public double FractionHigh => v[3];

    /// <summary>Share below 1/C ("rollout_is_ratio_fraction_low"), likewise.</summary>
    public double FractionLow => v[4];

    /// <summary>Standard deviation of the weights clamped to [1/C, C] over the corrected tokens ("rollout_is_std"; 0 with fewer than two).</summary>
    public double Std => v[5];

    /// <summary>Effective sample size 1/mean(ŵ²), ŵ = w′/(mean(w′) + 1e-8), w′ the weights clamped to [1/C, C] ("rollout_is_eff_sample_size").</summary>
    public double EffectiveSampleSize => v[6];

    /// <summary>Mean over the sequences of each sequence's mean weight ("rollout_is_seq_mean"; a sequence without corrected tokens counts 0, as in verl).</summary>
    public double SequenceMean => v[7];

    /// <summary>Unbiased standard deviation of the per-sequence mean weights ("rollout_is_seq_std"; 0 for one sequence).</summary>
    public double SequenceStd => v[8];

    /// <summary>The largest per-sequence mean weight ("rollout_is_seq_max").</summary>
    public double SequenceMax => v[9];

    /// <summary>The smallest per-sequence mean weight ("rollout_is_seq_min").</summary>
    public double SequenceMin => v[10];

    /// <summary>The largest |per-sequence mean weight − 1| ("rollout_is_seq_max_deviation").</summary>
    public double SequenceMaxDeviation => v[11];

    /// <summary>Share of sequences whose mean weight exceeds C ("rollout_is_seq_fraction_high").</summary>
    public double SequenceFractionHigh => v[12];

    /// <summary>Share of sequences whose mean weight is below 1/C ("rollout_is_seq_fraction_low").</summary>
    public double SequenceFractionLow => v[13];

    /// <summary>The mean the truncated weights were divided by ("rollout_is_batch_norm_factor"; 1 when not normalized or when the mean was ≤ 1e-8).</summary>
    public double BatchNormFactor => v[14];

    /// <summary>The number of corrected tokens.</summary>
    public long Tokens => (long)v[15];

    /// <summary>The number of sequences.</summary>
    public long Sequences => (long)v[16];

    /// <summary>The metrics with verl's names, for logs.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> ToNamedValues()
    {
        var values = new List<KeyValuePair<string, double>>
        {
            new("rollout_corr/rollout_is_mean", Mean),
            new("rollout_corr/rollout_is_max", Max),
            new("rollout_corr/rollout_is_min", Min),
            new("rollout_corr/rollout_is_ratio_fraction_high", FractionHigh),
            new("rollout_corr/rollout_is_ratio_fraction_low", FractionLow),
            new("rollout_corr/rollout_is_std", Std),
            new("rollout_corr/rollout_is_eff_sample_size", EffectiveSampleSize),
            new("rollout_corr/rollout_is_seq_mean", SequenceMean),
            new("rollout_corr/rollout_is_seq_std", SequenceStd),
            new("rollout_corr/rollout_is_seq_max", SequenceMax),
            new("rollout_corr/rollout_is_seq_min", SequenceMin),
            new("rollout_corr/rollout_is_seq_max_deviation", SequenceMaxDeviation),
            new("rollout_corr/rollout_is_seq_fraction_high", SequenceFractionHigh),
            new("rollout_corr/rollout_is_seq_fraction_low", SequenceFractionLow),
        };
        if (BatchNormalized)
        {
            values.Add(new("rollout_corr/rollout_is_batch_norm_factor", BatchNormFactor));
        }
        return values;
    }
}
