using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// What an <see cref="IOnPolicyObjective"/> returns: token losses and the indicators behind verl's clip metrics. Takes
/// ownership of the tensors (<see cref="MixedPolicyLoss"/> disposes them after use).
/// </summary>
public sealed class OnPolicyTerms
{
    /// <summary>Creates the terms.</summary>
    /// <param name="tokenLoss">Token losses, (B, T), the log-probs' dtype, differentiable; values outside the on-policy tokens are ignored.</param>
    /// <param name="clipped">Where the clip is active ("pg_clipfrac"), (B, T) bool, or <see langword="null"/> for an objective without a clip. The default is <see langword="null"/>.</param>
    /// <param name="clippedLower">Where the lower/negative-advantage clip is active ("pg_clipfrac_lower"), (B, T) bool, or <see langword="null"/>. The default is <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A tensor is not (B, T) like <paramref name="tokenLoss"/>, or an indicator is not bool.</exception>
    public OnPolicyTerms(Tensor tokenLoss, Tensor? clipped = null, Tensor? clippedLower = null)
    {
        TensorGuard.Floating(tokenLoss, nameof(tokenLoss));
        TensorGuard.Rank(tokenLoss, nameof(tokenLoss), 2, "(B, T)");
        Check(clipped, nameof(clipped), tokenLoss);
        Check(clippedLower, nameof(clippedLower), tokenLoss);
        TokenLoss = tokenLoss;
        Clipped = clipped;
        ClippedLower = clippedLower;
    }

    /// <summary>Token losses, (B, T).</summary>
    public Tensor TokenLoss { get; }

    /// <summary>Clip indicator, (B, T) bool, or <see langword="null"/> (never clipped).</summary>
    public Tensor? Clipped { get; }

    /// <summary>Lower-clip indicator, (B, T) bool, or <see langword="null"/> (never clipped).</summary>
    public Tensor? ClippedLower { get; }

    private static void Check(Tensor? indicator, string name, Tensor tokenLoss)
    {
        if (indicator is null)
        {
            return;
        }
        TensorGuard.SameShape(indicator, name, tokenLoss, nameof(tokenLoss), "(B, T)");
        if (indicator.dtype != ScalarType.Bool)
        {
            throw new ArgumentException($"{name} has dtype {indicator.dtype}; clip indicators are bool.", name);
        }
    }
}
