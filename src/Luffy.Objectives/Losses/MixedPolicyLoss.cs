using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// LUFFY's mixed-policy loss. Per token, with ρ = exp(clamp(logp − old, −20, 20)) and p = exp(logp):
/// <list type="bullet">
/// <item>on-policy tokens: the PPO surrogate L_on = max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high)) (or −A·ρ unclipped), optionally dual-clipped where A &lt; 0: min(L_on, −A·c);</item>
/// <item>off-policy tokens: policy shaping L_off = −A·f(p), never clipped, optionally clamped (min/max on f);</item>
/// <item>L = o·L_off + (1 − o)·L_on under the response mask, aggregated per <see cref="PolicyLossOptions.Aggregation"/>,
/// minus the entropy bonus, plus the KL penalty (both aggregated the same way).</item>
/// </list>
/// Pure on-policy PPO/GRPO is the case without an off-policy mask. Masked positions receive exactly zero gradient.
/// </summary>
public sealed class MixedPolicyLoss
{
    private const double LogRatioClamp = 20.0;

    /// <summary>Creates the loss with validated options.</summary>
    /// <param name="options">The options; <see langword="null"/> uses the defaults (clipped PPO on-policy, γ = 0.1 shaping off-policy, token-mean).</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (see <see cref="PolicyLossOptions.Validate"/>).</exception>
    public MixedPolicyLoss(PolicyLossOptions? options = null)
    {
        Options = options ?? new PolicyLossOptions();
        Options.Validate();
    }

    /// <summary>The options this loss was created with.</summary>
    public PolicyLossOptions Options { get; }

    /// <summary>Computes the loss and its metrics for one (micro-)batch.</summary>
    /// <param name="inputs">The (B, T) tensors of the step; none is disposed.</param>
    /// <returns>A fresh result with a scalar loss that is differentiable with respect to <see cref="PolicyLossInputs.LogProbs"/> (and <see cref="PolicyLossInputs.Entropy"/>).</returns>
    /// <exception cref="ArgumentException">A tensor has the wrong shape, dtype or device, or a tensor the options need is missing.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="PolicyLossInputs.GlobalNormalizer"/> is not finite and positive.</exception>
    /// <exception cref="NotSupportedException"><see cref="PolicyLossOptions.Kernel"/> is <see cref="LossKernel.Fused"/> and the inputs are not on the CPU in float32/float64 or the shaping is not built in.</exception>
    public PolicyLossResult Compute(PolicyLossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Validate(inputs);
        switch (Options.Kernel)
        {
            case LossKernel.Fused when !FusedPolicyLoss.Supports(inputs, Options, out string reason):
                throw new NotSupportedException($"Kernel is Fused but {reason}; use LossKernel.Auto or LossKernel.Composed.");
            case LossKernel.Fused:
            case LossKernel.Auto when FusedPolicyLoss.Supports(inputs, Options, out _):
                using (NewDisposeScope())
                {
                    PolicyLossResult fused = FusedPolicyLoss.Compute(inputs, Options);
                    fused.Loss.MoveToOuterDisposeScope();
                    return fused;
                }
            default:
                return ComputeComposed(inputs);
        }
    }

    /// <summary>The composed-ops implementation (every device and dtype; the reference of the fused kernel).</summary>
    private PolicyLossResult ComputeComposed(PolicyLossInputs inputs)
    {
        PolicyLossOptions o = Options;

        using var scope = NewDisposeScope();
        Tensor logp = inputs.LogProbs;
        Tensor zero = zeros(1, dtype: logp.dtype, device: logp.device);
        Tensor mask = TensorGuard.AsBoolMask(inputs.ResponseMask);
        Tensor offPolicy = inputs.OffPolicyMask is null
            ? zeros_like(mask)
            : TensorGuard.AsBoolMask(inputs.OffPolicyMask).logical_and(mask);
        Tensor onPolicy = mask.logical_and(offPolicy.logical_not());
        Tensor negativeAdvantages = -inputs.Advantages;

        // On-policy PPO surrogate.
        Tensor ratio = (logp - inputs.OldLogProbs).clamp(-LogRatioClamp, LogRatioClamp).exp();
        Tensor unclippedLoss = negativeAdvantages * ratio;
        Tensor onLoss = unclippedLoss;
        Tensor clipped = zeros_like(mask);
        if (o.ClipOnPolicyRatio)
        {
            Tensor clippedLoss = negativeAdvantages * ratio.clamp(1 - o.ClipLow, 1 + o.ClipHigh);
            clipped = clippedLoss.gt(unclippedLoss);
            onLoss = maximum(unclippedLoss, clippedLoss);
        }
        Tensor dualClipped = zeros_like(mask);
        if (o.DualClip is { } c)
        {
            double bound = Math.Max(c, 1 + o.ClipHigh);
            Tensor dualLoss = negativeAdvantages * bound;
            Tensor negative = inputs.Advantages.lt(0);
            dualClipped = negative.logical_and(dualLoss.lt(onLoss));
            onLoss = where(negative, minimum(onLoss, dualLoss), onLoss);
        }

        // Off-policy policy shaping.
        Tensor shaped = o.Shaping.Apply(logp);
        Tensor shapedClamped = shaped;
        if (o.OffPolicyMaxClamp is { } max)
        {
            shapedClamped = shapedClamped.clamp_max(max);
        }
        if (o.OffPolicyMinClamp is { } min)
        {
            shapedClamped = shapedClamped.clamp_min(min);
        }
        Tensor offLoss = negativeAdvantages * shapedClamped;

        Tensor tokenLoss = where(offPolicy, offLoss, onLoss);
        Tensor policyLoss = LossAggregator.AggregateUnchecked(tokenLoss, mask, o.Aggregation, inputs.GlobalNormalizer, o.AggregationConstant);
        Tensor loss = policyLoss;

        Tensor entropy = zeros(1, dtype: logp.dtype, device: logp.device).squeeze(0);
        if (inputs.Entropy is not null)
        {
            entropy = LossAggregator.AggregateUnchecked(inputs.Entropy, mask, o.Aggregation, inputs.GlobalNormalizer, o.AggregationConstant);
            if (o.EntropyCoefficient > 0)
            {
                loss = loss - entropy * o.EntropyCoefficient;
            }
        }
        Tensor kl = zeros(1, dtype: logp.dtype, device: logp.device).squeeze(0);
        if (inputs.ReferenceLogProbs is not null)
        {
            Tensor tokenKl = KlDivergence.EstimateUnchecked(logp, inputs.ReferenceLogProbs, o.KlEstimator);
            kl = LossAggregator.AggregateUnchecked(tokenKl, mask, o.Aggregation, inputs.GlobalNormalizer, o.AggregationConstant);
            if (o.KlCoefficient > 0)
            {
                loss = loss + kl * o.KlCoefficient;
            }
        }

        Tensor metrics;
        using (no_grad())
        {
            Tensor metricScope = o.MetricScope == MetricScope.OnPolicyTokens ? onPolicy : mask;
            Tensor maxClamped = o.OffPolicyMaxClamp is { } hi ? shaped.gt(hi) : zeros_like(mask);
            Tensor minClamped = o.OffPolicyMinClamp is { } lo ? shaped.lt(lo) : zeros_like(mask);
            Tensor[] values =
            [
                loss.detach(),
                policyLoss.detach(),
                MaskedMean(onLoss.detach(), onPolicy),
                MaskedMean(offLoss.detach(), offPolicy),
                MaskedMean(clipped, metricScope),
                MaskedMean(dualClipped, onPolicy),
                MaskedMean((inputs.OldLogProbs - logp).detach(), metricScope),
                MaskedMean(logp.detach().exp(), offPolicy),
                MaskedMean(inputs.OldLogProbs.detach().exp(), onPolicy),
                MaskedMean(shaped.detach(), offPolicy),
                MaskedMean(maxClamped, offPolicy),
                MaskedMean(minClamped, offPolicy),
                entropy.detach(),
                kl.detach(),
                onPolicy.sum(),
                offPolicy.sum(),
            ];
            metrics = stack(values.Select(v => v.to_type(ScalarType.Float64).reshape(Array.Empty<long>())));
        }

        return new PolicyLossResult(loss.MoveToOuterDisposeScope(), metrics.MoveToOuterDisposeScope());
    }

    private static Tensor MaskedMean(Tensor values, Tensor selection)
    {
        Tensor v = values.to_type(ScalarType.Float64);
        Tensor total = where(selection, v, zeros(1, dtype: ScalarType.Float64, device: v.device)).sum();
        return total / selection.sum().to_type(ScalarType.Float64).clamp_min(1);
    }

    private void Validate(PolicyLossInputs inputs)
    {
        const string layout = "(B, T)";
        Tensor logp = inputs.LogProbs;
        TensorGuard.Floating(logp, nameof(inputs.LogProbs));
        TensorGuard.Rank(logp, nameof(inputs.LogProbs), 2, layout);
        TensorGuard.Companion(inputs.OldLogProbs, nameof(inputs.OldLogProbs), logp, nameof(inputs.LogProbs), layout);
        TensorGuard.Companion(inputs.Advantages, nameof(inputs.Advantages), logp, nameof(inputs.LogProbs), layout);
        TensorGuard.Mask(inputs.ResponseMask, nameof(inputs.ResponseMask), logp, nameof(inputs.LogProbs), layout);
        if (inputs.OffPolicyMask is not null)
        {
            TensorGuard.Mask(inputs.OffPolicyMask, nameof(inputs.OffPolicyMask), logp, nameof(inputs.LogProbs), layout);
        }
        if (inputs.ReferenceLogProbs is not null)
        {
            TensorGuard.Companion(inputs.ReferenceLogProbs, nameof(inputs.ReferenceLogProbs), logp, nameof(inputs.LogProbs), layout);
        }
        else if (Options.KlCoefficient > 0)
        {
            throw new ArgumentException($"KlCoefficient is {Options.KlCoefficient} but ReferenceLogProbs is null; pass the reference policy's (B, T) log-probs or set KlCoefficient to 0.", nameof(inputs));
        }
        if (inputs.Entropy is not null)
        {
            TensorGuard.Companion(inputs.Entropy, nameof(inputs.Entropy), logp, nameof(inputs.LogProbs), layout);
        }
        else if (Options.EntropyCoefficient > 0)
        {
            throw new ArgumentException($"EntropyCoefficient is {Options.EntropyCoefficient} but Entropy is null; pass the (B, T) token entropy (TokenStatistics.Compute) or set EntropyCoefficient to 0.", nameof(inputs));
        }
        if (inputs.GlobalNormalizer is { } n)
        {
            TensorGuard.Positive(n, nameof(inputs.GlobalNormalizer));
        }
    }
}
