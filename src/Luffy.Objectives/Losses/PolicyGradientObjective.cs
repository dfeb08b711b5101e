using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// GPG's plain policy gradient (verl's <c>gpg</c>): L = −A·log p, no ratio and no clip (pair it with
/// <see cref="Advantages.GpgAdvantage"/>). Composed kernel only.
/// </summary>
public sealed record PolicyGradientObjective : IOnPolicyObjective
{
    /// <inheritdoc />
    public string Name => "gpg";

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor value = -context.LogProbs * context.Advantages;
        if (context.RolloutWeights is { } weights)
        {
            value = value * weights;
        }
        return new OnPolicyTerms(value.MoveToOuterDisposeScope());
    }
}
