using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// REINFORCE++ (verl's <c>reinforce_plus_plus</c>): token-level discounted returns of the outcome reward, whitened over
/// every response token of the batch. The outcome reward r sits on the sequence's last response token (as a rule-based
/// reward manager puts it); the return R_t = r_t + γ·m_{t+1}·R_{t+1} restarts after the response ends (and after any
/// gap in the mask), so R_t = γ^(L − t)·r for the tokens t ≤ L of a contiguous response ending at L. Then
/// A = (R − μ)·rsqrt(var + 1e-8) with μ and the unbiased var over all response tokens, times the mask. The result is
/// token-level (<see cref="AdvantageResult.TokenLevelAdvantages"/>); its per-sequence <see cref="AdvantageResult.Advantages"/>
/// is the mean over each response. Group ids are not used (statistics only). Needs <see cref="RewardBatch.ResponseMask"/>.
/// With fewer than two response tokens in the batch the variance's denominator is clamped to 1 (the reference raises).
/// </summary>
public sealed record ReinforcePlusPlusAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="gamma">The discount γ in [0, 1]. The default is 1 (verl's default <c>algorithm.gamma</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is outside [0, 1].</exception>
    public ReinforcePlusPlusAdvantage(double gamma = 1.0)
    {
        Gamma = gamma;
    }

    /// <summary>The discount γ in [0, 1]. The default is 1.</summary>
    public double Gamma
    {
        get;
        init => field = value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Gamma), value, "Gamma must be in [0, 1].");
    }

    /// <inheritdoc />
    public string Name => "reinforce++";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch)
    {
        Tensor? tokens = null;
        return AdvantageComputation.Run(batch, nameof(ReinforcePlusPlusAdvantage),
            index =>
            {
                tokens = Whitened(index.Rewards, TensorGuard.AsBoolMask(batch.ResponseMask!));
                Tensor mask = TensorGuard.AsBoolMask(batch.ResponseMask!).to_type(tokens.dtype);
                return tokens.sum(1) / mask.sum(1).clamp_min(1);
            },
            requiresResponseMask: true,
            tokenLevel: _ => tokens!);
    }

    private Tensor Whitened(Tensor rewards, Tensor mask)
    {
        long t = mask.shape[1];
        Tensor m = mask.to_type(rewards.dtype);
        Tensor columns = arange(t, dtype: ScalarType.Int64, device: rewards.device).unsqueeze(0);
        // L: the last response token of each row (rows without one get no reward)
        Tensor last = where(mask, columns, full(1, -1L, dtype: ScalarType.Int64, device: rewards.device)).amax([1], keepdim: true);
        // gaps in (t, L]: zeros of the mask up to L minus those up to t
        Tensor gapsUpTo = (1 - m).cumsum(1);
        Tensor gapsToEnd = gapsUpTo.gather(1, last.clamp_min(0)) - gapsUpTo;
        Tensor distance = (last - columns).to_type(rewards.dtype);
        Tensor reaches = columns.le(last).logical_and(gapsToEnd.eq(0)).logical_and(last.ge(0));
        Tensor discount = Gamma == 1.0 ? ones_like(distance) : pow(Gamma, distance.clamp_min(0));
        Tensor returns = where(reaches, rewards.unsqueeze(1) * discount, zeros(1, dtype: rewards.dtype, device: rewards.device));

        Tensor count = m.sum();
        Tensor mean = (returns * m).sum() / count.clamp_min(1);
        Tensor centered = returns - mean;
        Tensor variance = (centered * centered * m).sum() / (count - 1).clamp_min(1);
        return ReinforcePlusPlusBaselineAdvantage.Whiten(centered, variance) * m;
    }
}
