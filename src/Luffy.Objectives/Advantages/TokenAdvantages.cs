using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>Turns sequence-level advantages into the token-level (B, T) advantages a policy loss consumes.</summary>
public static class TokenAdvantages
{
    /// <summary>A[b, t] = advantages[b] where responseMask[b, t] is set, 0 elsewhere.</summary>
    /// <param name="advantages">Sequence advantages, shape (B), floating point. Not disposed.</param>
    /// <param name="responseMask">Response mask, shape (B, T), bool or an integer dtype (non-zero = response token). Not disposed.</param>
    /// <returns>A fresh (B, T) tensor in the advantages' dtype, on their device, detached.</returns>
    /// <exception cref="ArgumentException">Shapes or devices disagree.</exception>
    public static Tensor Broadcast(Tensor advantages, Tensor responseMask)
    {
        TensorGuard.Floating(advantages, nameof(advantages));
        TensorGuard.Rank(advantages, nameof(advantages), 1, "(B)");
        TensorGuard.Rank(responseMask, nameof(responseMask), 2, "(B, T)");
        TensorGuard.MaskDtype(responseMask, nameof(responseMask));
        TensorGuard.SameLeadingDimension(responseMask, nameof(responseMask), advantages, nameof(advantages), "the response mask must be (B, T) with B = advantages.shape[0]");
        TensorGuard.SameDevice(responseMask, nameof(responseMask), advantages, nameof(advantages));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor mask = TensorGuard.AsBoolMask(responseMask);
        Tensor result = where(mask, advantages.detach().unsqueeze(1), zeros(1, dtype: advantages.dtype, device: advantages.device));
        return result.MoveToOuterDisposeScope();
    }
}
