using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// Advantages and the group statistics of the batch they came from. Most estimators give one advantage per sequence
/// (<see cref="Advantages"/>, (B)); token-level estimators (<see cref="ReinforcePlusPlusAdvantage"/>) also give one per
/// response token (<see cref="TokenLevelAdvantages"/>, (B, T)). Owns its tensors: dispose it when done (tensors taken
/// from it before then die with it; clone what must outlive it). A custom <see cref="IAdvantageEstimator"/> builds its
/// result with <see cref="Create"/>.
/// </summary>
public sealed class AdvantageResult : IDisposable
{
    private readonly Tensor advantages;
    private readonly Tensor? tokenAdvantages;
    private readonly Tensor statisticsTensor;
    private GroupStatistics? statistics;
    private bool disposed;

    internal AdvantageResult(Tensor advantages, Tensor statisticsTensor, Tensor? tokenAdvantages = null)
    {
        this.advantages = advantages;
        this.statisticsTensor = statisticsTensor;
        this.tokenAdvantages = tokenAdvantages;
    }

    /// <summary>
    /// Builds a result from advantages a custom estimator computed; the library derives the group statistics
    /// (<see cref="GroupStatistics"/>) from the batch's rewards and group ids.
    /// </summary>
    /// <param name="advantages">One advantage per sequence, (B), floating point, on the rewards' device. Copied (detached); not disposed.</param>
    /// <param name="batch">The batch the advantages belong to (rewards and group ids; validated, NaN/Inf rewards rejected).</param>
    /// <param name="tokenAdvantages">
    /// Optional token-level advantages, (B, T), the advantages' dtype and device, for estimators whose advantage varies
    /// along a response; <see cref="ToTokens"/> then returns them (masked). Copied (detached); not disposed. The default is
    /// <see langword="null"/>: the sequence advantages are broadcast.
    /// </param>
    /// <returns>A fresh result owning copies of the given tensors.</returns>
    /// <exception cref="ArgumentException">A tensor has the wrong rank, length, dtype or device, or a reward is NaN/Inf.</exception>
    public static AdvantageResult Create(Tensor advantages, RewardBatch batch, Tensor? tokenAdvantages = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        TensorGuard.Floating(advantages, nameof(advantages));
        TensorGuard.Rank(advantages, nameof(advantages), 1, "(B)");
        TensorGuard.SameShape(advantages, nameof(advantages), batch.Rewards, "rewards", "(B)");
        TensorGuard.SameDevice(advantages, nameof(advantages), batch.Rewards, "rewards");
        if (tokenAdvantages is not null)
        {
            TensorGuard.Floating(tokenAdvantages, nameof(tokenAdvantages));
            TensorGuard.Rank(tokenAdvantages, nameof(tokenAdvantages), 2, "(B, T)");
            TensorGuard.SameLeadingDimension(tokenAdvantages, nameof(tokenAdvantages), advantages, nameof(advantages), "tokenAdvantages must be (B, T) with B = advantages.shape[0]");
            TensorGuard.SameDtype(tokenAdvantages, nameof(tokenAdvantages), advantages, nameof(advantages));
            TensorGuard.SameDevice(tokenAdvantages, nameof(tokenAdvantages), advantages, nameof(advantages));
        }
        return AdvantageComputation.Run(batch, nameof(Create), _ => advantages.detach().clone(), tokenLevel: tokenAdvantages is null ? null : _ => tokenAdvantages.detach().clone());
    }

    /// <summary>
    /// One advantage per sequence, shape (B), the rewards' dtype and device; detached (no gradient). For token-level
    /// estimators this is the mean over the sequence's response tokens (0 for an empty response), for logs.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor Advantages => Live(advantages);

    /// <summary>Token-level advantages, (B, T), when the estimator gives them (<see cref="IsTokenLevel"/>); otherwise <see langword="null"/>.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor? TokenLevelAdvantages => tokenAdvantages is null ? null : Live(tokenAdvantages);

    /// <summary>Whether the advantages vary along a response (<see cref="TokenLevelAdvantages"/> is set).</summary>
    public bool IsTokenLevel => tokenAdvantages is not null;

    /// <summary>Group statistics; the first read copies six numbers from the device, later reads are cached.</summary>
    /// <exception cref="ObjectDisposedException">The result was disposed before the first read.</exception>
    public GroupStatistics Statistics => statistics ??= ReadStatistics();

    /// <summary>
    /// The token-level (B, T) advantages a policy loss consumes: the sequence advantage on every response token
    /// (A[b, t] = advantages[b] where the mask is set), or the token-level advantages under the mask; 0 elsewhere.
    /// </summary>
    /// <param name="responseMask">Response mask, shape (B, T), bool or an integer dtype (non-zero = response token). Not disposed.</param>
    /// <returns>A fresh (B, T) tensor in the advantages' dtype.</returns>
    /// <exception cref="ArgumentException">The mask's shape or device does not fit.</exception>
    /// <exception cref="ObjectDisposedException">The result was disposed.</exception>
    public Tensor ToTokens(Tensor responseMask)
    {
        if (tokenAdvantages is null)
        {
            return TokenAdvantages.Broadcast(Live(advantages), responseMask);
        }
        Tensor values = Live(tokenAdvantages);
        TensorGuard.Mask(responseMask, nameof(responseMask), values, nameof(TokenLevelAdvantages), "(B, T)");
        using var scope = NewDisposeScope();
        Tensor mask = TensorGuard.AsBoolMask(responseMask);
        return where(mask, values, zeros(1, dtype: values.dtype, device: values.device)).MoveToOuterDisposeScope();
    }

    private Tensor Live(Tensor t)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return t;
    }

    private GroupStatistics ReadStatistics()
    {
        double[] values = HostTransfer.Read<double>(Live(statisticsTensor));
        return new GroupStatistics((long)values[0], (long)values[1], (long)values[2], (long)values[3], values[4], values[5]);
    }

    /// <summary>Disposes the advantages and statistics tensors. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        advantages.Dispose();
        tokenAdvantages?.Dispose();
        statisticsTensor.Dispose();
    }
}
