using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// GRPO pass@k: only the best sample of each group (the first one, by position, among those with the highest
/// reward) gets a non-zero advantage, r_max − r_second, divided by std_g + ε when <see cref="NormalizeByStd"/>;
/// every other member gets 0. Every group needs at least two samples.
/// </summary>
public sealed record PassAtKAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="normalizeByStd">Divide by the unbiased std_g + ε. The default is <see langword="true"/>.</param>
    /// <param name="epsilon">ε ≥ 0 added to the std. The default is 1e-6.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative or not finite.</exception>
    public PassAtKAdvantage(bool normalizeByStd = true, double epsilon = 1e-6)
    {
        NormalizeByStd = normalizeByStd;
        Epsilon = epsilon;
    }

    /// <summary>Whether the advantage is divided by std_g + ε. The default is <see langword="true"/>.</summary>
    public bool NormalizeByStd { get; init; }

    /// <summary>ε added to the group std. The default is 1e-6.</summary>
    public double Epsilon
    {
        get;
        init => field = TensorGuard.NonNegative(value, nameof(Epsilon));
    }

    /// <inheritdoc />
    public string Name => NormalizeByStd ? "grpo-pass@k" : "grpo-pass@k-no-std";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(PassAtKAdvantage), index =>
    {
        Tensor small = index.CountsLong.lt(2);
        if (small.any().item<bool>())
        {
            long group = small.nonzero().flatten()[0].item<long>();
            long member = index.Order[index.Starts[group]].item<long>();
            long groupId = batch.GroupIds[member].to_type(ScalarType.Int64).item<long>();
            throw new ArgumentException($"group {groupId} (sequence {member}) has a single sample; GRPO pass@k needs G >= 2 samples per group.", "batch");
        }
        Tensor best = index.Order.index_select(0, index.Starts);
        Tensor second = index.Rewards.index_select(0, index.Order.index_select(0, index.Starts + 1));
        Tensor gap = index.GroupMax - second;
        if (NormalizeByStd)
        {
            (_, Tensor std) = index.Moments(index.Rewards);
            // a uniform group has gap 0 and std 0: its advantage stays exactly 0, also with epsilon 0 (not 0/0 = NaN)
            gap = where(gap.eq(0), gap, gap / (std + Epsilon));
        }
        return zeros_like(index.Rewards).index_copy(0, best, gap);
    });
}
