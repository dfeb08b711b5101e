using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// The outcome rewards of one batch of sequences and the prompt group each sequence belongs to: the input of
/// every <see cref="IAdvantageEstimator"/>. Holds references to the caller's tensors; never disposes them.
/// </summary>
/// <remarks>
/// Dimension letters: B sequences in the batch, T response tokens per sequence (padded). A group is the set of
/// samples of one prompt (LUFFY: the on-policy rollouts and the off-policy trace of that prompt).
/// </remarks>
public sealed class RewardBatch
{
    /// <summary>Creates a reward batch.</summary>
    /// <param name="rewards">Outcome rewards, shape (B), float32 or float64, finite (checked when an estimator runs).</param>
    /// <param name="groupIds">Group (prompt) id of each sequence, shape (B), int64 or int32; any values, not necessarily contiguous.</param>
    /// <exception cref="ArgumentException">A tensor has the wrong rank, dtype, length or device.</exception>
    public RewardBatch(Tensor rewards, Tensor groupIds)
    {
        TensorGuard.Floating(rewards, nameof(rewards));
        TensorGuard.Rank(rewards, nameof(rewards), 1, "(B)");
        TensorGuard.Integral(groupIds, nameof(groupIds));
        TensorGuard.Rank(groupIds, nameof(groupIds), 1, "(B)");
        TensorGuard.SameShape(groupIds, nameof(groupIds), rewards, nameof(rewards), "(B)");
        TensorGuard.SameDevice(groupIds, nameof(groupIds), rewards, nameof(rewards));
        Rewards = rewards;
        GroupIds = groupIds;
    }

    /// <summary>Outcome rewards, shape (B), float32 or float64.</summary>
    public Tensor Rewards { get; }

    /// <summary>Group id of each sequence, shape (B), int64 or int32.</summary>
    public Tensor GroupIds { get; }

    /// <summary>
    /// Response mask, shape (B, T), bool or an integer dtype (non-zero = a real response token). Needed by the
    /// estimators that use response lengths or positions (<see cref="LengthWeightedBaselineAdvantage"/>,
    /// <see cref="ReinforcePlusPlusBaselineAdvantage"/>, <see cref="ReinforcePlusPlusAdvantage"/>). The default is <see langword="null"/>.
    /// </summary>
    public Tensor? ResponseMask { get; init; }

    /// <summary>
    /// Per-sequence off-policy flag, shape (B), bool or an integer dtype (non-zero = the sequence carries an off-policy trace).
    /// Needed by <see cref="OnPolicyGroupNormalizedAdvantage"/>. The default is <see langword="null"/> (all on-policy).
    /// </summary>
    public Tensor? IsOffPolicy { get; init; }

    /// <summary>
    /// Per-sequence baseline rewards, shape (B), the rewards' dtype, finite: ReMax's reward of the greedy response to the
    /// same prompt. Needed by <see cref="ReMaxAdvantage"/>. The default is <see langword="null"/>.
    /// </summary>
    public Tensor? BaselineRewards { get; init; }

    /// <summary>The number of sequences B.</summary>
    public long Count => Rewards.shape[0];

    /// <summary>Validates the optional tensors and rejects NaN/Inf rewards (this reads one flag from the device).</summary>
    internal void Validate(bool requiresResponseMask, bool requiresOffPolicyFlags, bool requiresBaselineRewards, string estimator)
    {
        foreach ((Tensor? tensor, string name) in new[] { (Rewards, nameof(Rewards)), (GroupIds, nameof(GroupIds)), (ResponseMask, nameof(ResponseMask)), (IsOffPolicy, nameof(IsOffPolicy)), (BaselineRewards, nameof(BaselineRewards)) })
        {
            if (tensor is not null && tensor.IsInvalid)
            {
                throw new ObjectDisposedException($"RewardBatch.{name}", $"the RewardBatch's {name} tensor has been disposed (a RewardBatch holds references to its tensors and does not own them: keep them alive while it is used).");
            }
        }
        if (Count == 0)
        {
            throw new ArgumentException("rewards is empty; at least one sequence is required.", "rewards");
        }
        if (ResponseMask is not null)
        {
            TensorGuard.Rank(ResponseMask, nameof(ResponseMask), 2, "(B, T)");
            TensorGuard.MaskDtype(ResponseMask, nameof(ResponseMask));
            TensorGuard.SameLeadingDimension(ResponseMask, nameof(ResponseMask), Rewards, nameof(Rewards), "the response mask must be (B, T) with B = rewards.shape[0]");
            TensorGuard.SameDevice(ResponseMask, nameof(ResponseMask), Rewards, nameof(Rewards));
            if (requiresResponseMask && ResponseMask.shape[1] == 0)
            {
                throw new ArgumentException($"ResponseMask has shape {TensorGuard.Shape(ResponseMask)}; {estimator} needs at least one response column (T >= 1).", nameof(ResponseMask));
            }
        }
        else if (requiresResponseMask)
        {
            throw new ArgumentException($"{estimator} needs response lengths: set RewardBatch.ResponseMask to the (B, T) response mask.", nameof(ResponseMask));
        }
        if (IsOffPolicy is not null)
        {
            TensorGuard.Rank(IsOffPolicy, nameof(IsOffPolicy), 1, "(B)");
            TensorGuard.MaskDtype(IsOffPolicy, nameof(IsOffPolicy));
            TensorGuard.SameShape(IsOffPolicy, nameof(IsOffPolicy), Rewards, nameof(Rewards), "(B)");
            TensorGuard.SameDevice(IsOffPolicy, nameof(IsOffPolicy), Rewards, nameof(Rewards));
        }
        else if (requiresOffPolicyFlags)
        {
            throw new ArgumentException($"{estimator} needs to know which sequences are off-policy: set RewardBatch.IsOffPolicy to a (B) flag tensor.", nameof(IsOffPolicy));
        }

        if (BaselineRewards is not null)
        {
            TensorGuard.Companion(BaselineRewards, nameof(BaselineRewards), Rewards, nameof(Rewards), "(B)");
        }
        else if (requiresBaselineRewards)
        {
            throw new ArgumentException($"{estimator} needs a baseline reward per sequence: set RewardBatch.BaselineRewards to a (B) tensor (ReMax: the greedy response's reward).", nameof(BaselineRewards));
        }

        RejectNonFinite(Rewards, "rewards");
        if (BaselineRewards is not null)
        {
            RejectNonFinite(BaselineRewards, "baselineRewards");
        }
    }

    /// <summary>Throws for the first NaN/Inf element; reads one flag from the device (two more numbers when it throws).</summary>
    private static void RejectNonFinite(Tensor values, string name)
    {
        using var scope = NewDisposeScope();
        if (!values.isfinite().all().item<bool>())
        {
            Tensor bad = values.isfinite().logical_not().nonzero().flatten();
            long index = bad[0].item<long>();
            throw new ArgumentException($"{name}[{index}] is {values[index].to_type(ScalarType.Float64).item<double>()}; every value must be finite (no NaN or Inf).", name);
        }
    }

    /// <summary>Response lengths Σ_t mask, shape (B), in the rewards' dtype; <see langword="null"/> without a mask.</summary>
    internal Tensor? Lengths() => ResponseMask is null ? null : TensorGuard.AsBoolMask(ResponseMask).sum(1).to_type(Rewards.dtype);
}
