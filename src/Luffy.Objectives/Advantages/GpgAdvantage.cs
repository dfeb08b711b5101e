using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// GPG (verl's <c>gpg</c>): A_i = α·(r_i − mean_g)/f_norm with α = B / max(#non-zero rewards in the batch, 1), which
/// rescales the gradient when most rewards are 0. A group of one sample has mean 0, so A = α·r/f_norm (the reference's
/// rule); a group of two or more whose rewards are all equal gets exactly 0.
/// </summary>
public sealed record GpgAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="featureNorm">f_norm &gt; 0 dividing every advantage. The default is 1 (verl's default).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="featureNorm"/> is not a finite number greater than 0.</exception>
    public GpgAdvantage(double featureNorm = 1.0)
    {
        FeatureNorm = featureNorm;
    }

    /// <summary>f_norm. The default is 1.</summary>
    public double FeatureNorm
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(FeatureNorm));
    }

    /// <inheritdoc />
    public string Name => "gpg";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(GpgAdvantage), index =>
    {
        Tensor nonZero = index.Rewards.ne(0).sum().to_type(index.DType).clamp_min(1);
        Tensor alpha = index.Rewards.shape[0] / nonZero;
        (Tensor mean, _) = index.Moments(index.Rewards);
        return index.ZeroUniformGroups(alpha * (index.Rewards - index.Expand(mean)) / FeatureNorm);
    });
}
