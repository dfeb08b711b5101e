using Luffy.Objectives.Batching;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// LUFFY's mixed-policy loss, and every objective that composes into it. Per response token, with p = exp(log p):
/// <list type="bullet">
/// <item>on-policy tokens: the on-policy objective's token loss L_on (<see cref="PolicyLossOptions.OnPolicy"/>; default
/// PPO's clipped surrogate max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high)) with ρ = exp(clamp(log p − log p_old, ±20)));</item>
/// <item>off-policy (trace) tokens: policy shaping L_off = −A·f(p), never clipped, optionally clamped (min/max on f);
/// with trace probabilities q the ratio is p/(q + 1e-6) instead of f(p); with trace log-probs (stored behaviour
/// log-probs, ExGRPO) it is f(w) with w = exp(log p − stored);</item>
/// <item>L = o·L_off + (1 − o)·L_on, times the rollout-correction weights, aggregated per
/// <see cref="PolicyLossOptions.Aggregation"/> over the tokens <see cref="PolicyLossOptions.AllMaxClip"/> keeps, plus
/// λ·SFT, minus the entropy bonus, plus the KL penalty (both aggregated over every response token).</item>
/// </list>
/// Pure on-policy PPO/GRPO is the case without an off-policy mask. Masked positions receive exactly zero gradient. The
/// fused CPU kernel runs <see cref="ClippedSurrogate"/> with the built-in ratios and shaping functions in float32/float64
/// (<see cref="LossKernel.Auto"/>); everything else runs composed TorchSharp ops, on any device, and the result says which
/// kernel ran and why. Every formula and default, and the deliberate differences from the reference implementations, are
/// in docs/objectives.md (in the package and the repository).
/// </summary>
public sealed class MixedPolicyLoss
{
    /// <summary>The constant added to the trace probabilities q in the off-policy ratio p/(q + 1e-6) (the reference's).</summary>
    public const double TraceProbabilityEpsilon = 1e-6;

    /// <summary>Creates the loss with validated options.</summary>
    /// <param name="options">The options; <see langword="null"/> uses the defaults (clipped PPO on-policy, γ = 0.1 shaping off-policy, token-mean).</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (see <see cref="PolicyLossOptions.Validate"/>).</exception>
    /// <exception cref="ArgumentNullException">The objective or the shaping function is null.</exception>
    public MixedPolicyLoss(PolicyLossOptions? options = null)
    {
        Options = options ?? new PolicyLossOptions();
        Options.Validate();
    }

    /// <summary>The options this loss was created with.</summary>
    public PolicyLossOptions Options { get; }

    /// <summary>Computes the loss and its metrics for one (micro-)batch.</summary>
    /// <param name="inputs">
    /// The (B, T) tensors of the step; none is disposed, and the caller may dispose them before backward. The graph keeps
    /// what backward needs (also after the result is disposed, and through a retained graph). The fused kernel's graph
    /// saves its inputs: modifying one of them in place before backward is refused by autograd with a catchable error,
    /// as for any saved tensor.
    /// </param>
    /// <returns>A fresh result with a scalar loss that is differentiable with respect to <see cref="PolicyLossInputs.LogProbs"/> (and <see cref="PolicyLossInputs.Entropy"/>).</returns>
    /// <exception cref="ArgumentException">A tensor has the wrong shape, dtype or device, B or T is 0, or a tensor the options need is missing.</exception>
    /// <exception cref="NotSupportedException"><see cref="PolicyLossOptions.Kernel"/> is <see cref="LossKernel.Fused"/> and the fused kernel does not support the inputs or options (the message says why).</exception>
    /// <exception cref="InvalidOperationException">A custom objective returned terms of the wrong shape or dtype.</exception>
    public PolicyLossResult Compute(PolicyLossInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Validate(inputs);
        bool fusable = FusedPolicyLoss.Supports(inputs, Options, out string reason);
        if (Options.Kernel == LossKernel.Fused && !fusable)
        {
            throw new NotSupportedException($"Kernel is Fused but {reason}; use LossKernel.Auto or LossKernel.Composed.");
        }
        if (Options.Kernel != LossKernel.Composed && fusable)
        {
            return FusedPolicyLoss.Compute(inputs, Options);
        }
        return ComputeComposed(inputs, Options.Kernel == LossKernel.Composed ? "the options ask for LossKernel.Composed" : reason);
    }

    /// <summary>
    /// One micro-batch's loss in one call: <see cref="MicroBatch.Inputs"/> (statistics, the micro-batch's rows of the
    /// whole-batch tensors, its masks and the whole batch's normalizers for these options), then <see cref="Compute(PolicyLossInputs)"/>.
    /// </summary>
    /// <param name="microBatch">The micro-batch (from <see cref="MicroBatcher"/>). Not disposed.</param>
    /// <param name="statistics">The model's statistics of the micro-batch's rows, (n, T). Not disposed.</param>
    /// <param name="oldLogProbs">The whole batch's old log-probs, (B, T). Not disposed.</param>
    /// <param name="advantages">The whole batch's token advantages, (B, T). Not disposed.</param>
    /// <param name="referenceLogProbs">The whole batch's reference log-probs, (B, T), for the KL penalty. The default is <see langword="null"/>.</param>
    /// <param name="rolloutWeights">The whole batch's rollout-correction weights, (B, T). The default is <see langword="null"/>.</param>
    /// <param name="traceProbabilities">The whole batch's trace probabilities, (B, T). The default is <see langword="null"/>.</param>
    /// <param name="traceLogProbs">The whole batch's stored behaviour log-probs of the trace tokens, (B, T) (<see cref="PolicyLossInputs.TraceLogProbs"/>). The default is <see langword="null"/>.</param>
    /// <returns>A fresh result; summing the micro-batch losses (and combining their metrics) gives the full batch's.</returns>
    /// <exception cref="ArgumentException">A tensor has the wrong shape, dtype or device, or one the options need is missing.</exception>
    public PolicyLossResult Compute(MicroBatch microBatch, TokenStatisticsResult statistics, Tensor oldLogProbs, Tensor advantages,
        Tensor? referenceLogProbs = null, Tensor? rolloutWeights = null, Tensor? traceProbabilities = null, Tensor? traceLogProbs = null)
    {
        ArgumentNullException.ThrowIfNull(microBatch);
        return Compute(microBatch.Inputs(this, statistics, oldLogProbs, advantages, referenceLogProbs, rolloutWeights, traceProbabilities, traceLogProbs));
    }

    /// <summary>The composed-ops implementation (every device, dtype and objective; the reference of the fused kernel).</summary>
    private PolicyLossResult ComputeComposed(PolicyLossInputs inputs, string reason)
    {
        PolicyLossOptions o = Options;
        using var scope = NewDisposeScope();
        Tensor logp = inputs.LogProbs;
        Tensor zero = zeros(1, dtype: logp.dtype, device: logp.device);
        Masks masks = Masks.Of(inputs, o);
        Tensor mask = masks.Response, on = masks.OnPolicy, off = masks.OffPolicy, policy = masks.Policy;

        // Padding never reaches the loss (even NaN): masked positions are replaced by 0 with where, whose backward sends
        // exactly 0 there. Each branch sees gradient only at its own tokens, so a value the other branch discards (an
        // overflowing ratio, a NaN old log-prob at a trace token) cannot turn into 0·∞ = NaN in backward.
        // Without an off-policy mask (pure on-policy objectives: GRPO, GSPO, CISPO, …) there is no off-policy branch: the
        // objective sees log p itself and the token loss is its own (known from the inputs, no device read).
        bool traces = inputs.OffPolicyMask is not null;
        // (On the CPU each where of (B, T) tensors is a host SIMD select with the same values and gradients: HostSelect.)
        Tensor Where(Tensor condition, Tensor whenTrue, Tensor? whenFalse = null) => HostSelect.Where(condition, whenTrue, whenFalse, zero);
        Tensor lp = Where(mask, logp);
        Tensor lpOn = traces ? Where(on, lp, lp.detach()) : lp;
        Tensor old = Where(mask, inputs.OldLogProbs.detach());
        Tensor advantages = Where(mask, inputs.Advantages.detach());
        Tensor nan = full(1, double.NaN, dtype: logp.dtype, device: logp.device);
        Tensor? weights = inputs.RolloutWeights is null ? null : Where(mask, inputs.RolloutWeights.detach());
        if (weights is not null)
        {
            weights = where(weights.lt(0), nan, weights); // a negative weight makes its token NaN (no device sync to reject it)
        }

        OnPolicyTerms terms = o.OnPolicy.Compute(new OnPolicyContext
        {
            LogProbs = lpOn, OldLogProbs = old, Advantages = advantages, OnPolicyMask = on, ResponseMask = mask, RolloutWeights = weights,
        }) ?? throw new InvalidOperationException($"{o.OnPolicy.Name} returned no terms.");
        CheckTerms(terms, logp, o.OnPolicy.Name);
        Tensor onLoss = weights is not null && !o.OnPolicy.AppliesRolloutWeights ? terms.TokenLoss * weights : terms.TokenLoss;

        Tensor? ratio = null, clampedRatio = null, maxClamped = null, offLoss = null;
        Tensor? lpOff = traces ? Where(off, lp, lp.detach()) : null;
        if (lpOff is not null && inputs.TraceProbabilities is { } q)
        {
            Tensor traceProbabilities = where(off, q.detach(), ones_like(zero));
            ratio = where(traceProbabilities.lt(0).logical_or(traceProbabilities.gt(1)), nan, lpOff.exp() / (traceProbabilities + TraceProbabilityEpsilon));
        }
        else if (lpOff is not null && inputs.TraceLogProbs is { } stored)
        {
            // ExGRPO: the shaping of the importance weight w = p/π_past, i.e. f applied to log w = log p − stored; a
            // built-in's log term keeps log p, as the reference's "logp"/"p_logp" reshapes do (w·log p = w·log w + w·stored)
            Tensor behaviour = Where(off, stored.detach());
            Tensor logWeight = where(behaviour.gt(0), nan, lpOff - behaviour); // a positive stored log-prob makes its token NaN
            ratio = TensorGuard.ExtensionOutput(o.Shaping.Apply(logWeight), logWeight, $"The shaping function {o.Shaping.GetType().Name} ({o.Shaping.Name})");
            if (o.Shaping is IBuiltInShaping { Formula.LogWeight: not 0 } builtIn)
            {
                ratio = ratio + behaviour * builtIn.Formula.LogWeight;
            }
        }
        else if (lpOff is not null)
        {
            ratio = TensorGuard.ExtensionOutput(o.Shaping.Apply(lpOff), lpOff, $"The shaping function {o.Shaping.GetType().Name} ({o.Shaping.Name})");
        }
        if (ratio is not null)
        {
            clampedRatio = ratio;
            if (o.OffPolicyMaxClamp is { } max)
            {
                clampedRatio = clampedRatio.clamp_max(max);
            }
            maxClamped = clampedRatio;
            if (o.OffPolicyMinClamp is { } min)
            {
                clampedRatio = clampedRatio.clamp_min(min);
            }
            offLoss = -advantages * clampedRatio;
            if (weights is not null)
            {
                offLoss = offLoss * weights;
            }
        }
        Tensor tokenLoss = PropagateNaN(offLoss is null ? onLoss : Where(off, offLoss, onLoss), lp);

        Tensor kept = policy;
        Tensor allMaxClipped = zeros(mask.shape[0], 1, dtype: ScalarType.Bool, device: mask.device); // none without AllMaxClip
        if (o.AllMaxClip is { } bound)
        {
            allMaxClipped = policy.logical_and(lp.detach().gt(Math.Log(bound)));
            kept = policy.logical_and(allMaxClipped.logical_not());
        }
        LossNormalizers? n = inputs.Normalizers;
        // The built-in token objectives are exactly 0 where the inputs were zeroed (padding: A = 0, a finite ratio), and so
        // is the off-policy loss (−0·f): when every response token is kept, the aggregation needs no masking pass.
        bool zeroOutsideMask = ReferenceEquals(kept, mask) && o.OnPolicy is ClippedSurrogate or PolicyGradientObjective or ClippedImportanceWeightObjective or SoftAdaptiveSurrogate or GroupSequenceSurrogate;
        Tensor policyLoss = LossAggregator.AggregateUnchecked(tokenLoss, kept, o.Aggregation, n?.Policy, o.AggregationConstant, zeroOutsideMask);
        Tensor loss = policyLoss;

        Tensor sftSum = zero.squeeze(0), sftCount = zero.squeeze(0);
        if (o.SftCoefficient > 0)
        {
            Tensor sftTokens = masks.TraceSequences.logical_and(mask);
            Tensor negativeLogProbs = Where(sftTokens, -lp);
            sftSum = negativeLogProbs.sum();
            sftCount = count_nonzero(sftTokens).to_type(logp.dtype);
            loss = loss + sftSum / (n?.Sft is { } s ? s : sftCount.clamp_min(1)) * o.SftCoefficient;
        }
        Tensor entropySum = zero.squeeze(0);
        if (inputs.Entropy is not null)
        {
            Tensor entropy = Where(mask, inputs.Entropy);
            entropySum = entropy.sum();
            if (o.EntropyCoefficient > 0)
            {
                loss = loss - LossAggregator.AggregateUnchecked(entropy, mask, o.Aggregation, n?.Regularizer, o.AggregationConstant, zeroOutsideMask: true) * o.EntropyCoefficient;
            }
        }
        Tensor klSum = zero.squeeze(0);
        if (inputs.ReferenceLogProbs is not null)
        {
            Tensor tokenKl = Where(mask, PropagateNaN(KlDivergence.EstimateUnchecked(lp, Where(mask, inputs.ReferenceLogProbs.detach()), o.KlEstimator), lp));
            klSum = tokenKl.sum();
            if (o.KlCoefficient > 0)
            {
                loss = loss + LossAggregator.AggregateUnchecked(tokenKl, mask, o.Aggregation, n?.Regularizer, o.AggregationConstant, zeroOutsideMask: true) * o.KlCoefficient;
            }
        }

        // The metrics are reduced when they are first read (PolicyLossResult.Metrics), from what the step computed (its
        // tensors leave this dispose scope and are owned by the result until then): a step whose metrics are never read
        // skips ~20 reductions over (B, T). Built to need few dispatches: row sums and counts stacked, one float64 vector.
        var retained = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        Tensor Keep(Tensor t)
        {
            if (retained.Add(t))
            {
                t.DetachFromDisposeScope();
            }
            return t;
        }
        Tensor mLoss = Keep(loss.detach()), mPolicyLoss = Keep(policyLoss.detach()), mOnLoss = Keep(onLoss), mOn = Keep(on);
        Tensor? mOffLoss = offLoss is null ? null : Keep(offLoss), mOff = offLoss is null ? null : Keep(off), mClampedRatio = clampedRatio is null ? null : Keep(clampedRatio);
        Tensor mMask = Keep(mask), mPolicy = Keep(policy), mOld = Keep(old), mLp = Keep(lp), mAllMaxClipped = Keep(allMaxClipped);
        Tensor? mClipped = terms.Clipped is null ? null : Keep(terms.Clipped), mClippedLower = terms.ClippedLower is null ? null : Keep(terms.ClippedLower);
        Tensor? mRatio = o.OffPolicyMaxClamp is null || ratio is null ? null : Keep(ratio), mMaxClamped = o.OffPolicyMinClamp is null || maxClamped is null ? null : Keep(maxClamped);
        Tensor mSftSum = Keep(sftSum), mSftCount = Keep(sftCount), mEntropySum = Keep(entropySum), mKlSum = Keep(klSum);
        (Tensor Values, int[] Slots) Metrics()
        {
            var slots = new List<int>();
            Tensor metricScope = o.MetricScope == MetricScope.OnPolicyTokens ? mOn : mPolicy;
            Tensor zeroValue = zeros(1, dtype: mLp.dtype, device: mLp.device);
            // On the CPU (float32/float64) every sum and count is one pass over the step's tensors (MaskedReductions);
            // elsewhere row sums in the values' dtype (pairwise over T), then the B row sums in float64 — as accurate as
            // a float64 reduction of (B, T) for these O(1) terms, without its (B, T) conversion
            bool host = MaskedReductions.Supports(mLp);
            var hostValues = new List<double>();
            var sums = new List<Tensor>();
            void Sum(int slot, Tensor values, Tensor selection, MaskedReductions.Term term = MaskedReductions.Term.Value, Tensor? subtrahend = null)
            {
                slots.Add(slot);
                if (host)
                {
                    hostValues.Add(MaskedReductions.Sum(values, selection, term, subtrahend));
                    return;
                }
                Tensor v = term switch
                {
                    MaskedReductions.Term.Exp => values.exp(),
                    MaskedReductions.Term.Difference => values - subtrahend!,
                    _ => values,
                };
                sums.Add(where(selection, v, zeroValue).sum(1));
            }
            Sum(MetricSlots.OnLossSum, mOnLoss, mOn);
            Sum(MetricSlots.PpoKlSum, mOld, metricScope, MaskedReductions.Term.Difference, mLp);
            Sum(MetricSlots.OnProbabilitySum, mOld, mOn, MaskedReductions.Term.Exp);
            if (mOff is not null)
            {
                Sum(MetricSlots.OffLossSum, mOffLoss!, mOff);
                Sum(MetricSlots.OffProbabilitySum, mLp, mOff, MaskedReductions.Term.Exp);
                Sum(MetricSlots.RatioSum, mClampedRatio!, mOff);
            }
            var counts = new List<Tensor>();
            var counted = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance); // a mask counted once (scope = on, policy = mask)
            void Count(int slot, Tensor selection, Tensor? and = null)
            {
                slots.Add(slot);
                if (and is null && counted.TryGetValue(selection, out int at))
                {
                    if (host)
                    {
                        hostValues.Add(hostValues[at]);
                    }
                    else
                    {
                        counts.Add(counts[at]);
                    }
                    return;
                }
                if (and is null)
                {
                    counted[selection] = host ? hostValues.Count : counts.Count;
                }
                if (host)
                {
                    hostValues.Add(MaskedReductions.Count(selection, and));
                }
                else
                {
                    counts.Add(count_nonzero(and is null ? selection : selection.logical_and(and)));
                }
            }
            Count(MetricSlots.OnCount, mOn);
            if (mOff is not null)
            {
                Count(MetricSlots.OffCount, mOff);
            }
            Count(MetricSlots.ScopeCount, metricScope);
            Count(MetricSlots.AllMaxClippedCount, mAllMaxClipped);
            Count(MetricSlots.PolicyCount, mPolicy);
            Count(MetricSlots.ResponseCount, mMask);
            if (mClipped is not null)
            {
                Count(MetricSlots.ClippedCount, mClipped, metricScope);
            }
            if (mClippedLower is not null)
            {
                Count(MetricSlots.ClippedLowerCount, mClippedLower, metricScope);
            }
            if (o.OffPolicyMaxClamp is { } hi && mOff is not null)
            {
                Count(MetricSlots.MaxClampedCount, mOff, mRatio!.ge(hi));
            }
            if (o.OffPolicyMinClamp is { } lo && mOff is not null)
            {
                Count(MetricSlots.MinClampedCount, mOff, mMaxClamped!.le(lo));
            }
            slots.AddRange([MetricSlots.Loss, MetricSlots.PolicyLoss, MetricSlots.SftSum, MetricSlots.SftCount, MetricSlots.EntropySum, MetricSlots.KlSum]);
            Tensor scalars = stack([mLoss, mPolicyLoss, mSftSum, mSftCount, mEntropySum, mKlSum]).to_type(ScalarType.Float64);
            if (host)
            {
                return (cat([tensor(hostValues.ToArray(), dtype: ScalarType.Float64), scalars]), [.. slots]);
            }
            return (cat([stack(sums).to_type(ScalarType.Float64).sum(1), stack(counts).to_type(ScalarType.Float64), scalars]), [.. slots]);
        }

        return new PolicyLossResult(loss.MoveToOuterDisposeScope(), Metrics, [.. retained], LossKernel.Composed, reason);
    }

    /// <summary>
    /// A NaN token value gets a NaN gradient at its token (PyTorch's clamp would pass 0 there, its exp would pass NaN;
    /// one rule for every path and both kernels): adds (log p − sg(log p))·(NaN where the value is NaN, else 0), which is
    /// 0 in value and gradient elsewhere, also where log p is ±∞.
    /// </summary>
    private static Tensor PropagateNaN(Tensor values, Tensor lp)
    {
        bool noNaN = HostScan.Supports(values) ? !HostScan.AnyNaN(values)
            : lp.device_type == TorchSharp.DeviceType.CPU && !values.detach().isnan().any().item<bool>();
        if (noNaN)
        {
            // on the CPU a host read costs no device sync: without a NaN the term is exactly 0 in value and gradient, so
            // its ~8 element-wise passes (and their backward) are skipped; accelerators keep the sync-free form. (float32
            // and float64 are scanned on the host, without ATen's (B, T) bool temporary and its reduction.)
            return values;
        }
        Tensor detached = lp.detach();
        Tensor infinite = detached.isinf();
        Tensor zero = zeros(1, dtype: lp.dtype, device: lp.device);
        Tensor delta = where(infinite, zero, lp) - where(infinite, zero, detached);
        Tensor indicator = where(values.detach().isnan(), full(1, double.NaN, dtype: lp.dtype, device: lp.device), zero);
        return values + delta * indicator;
    }

    private static void CheckTerms(OnPolicyTerms terms, Tensor logp, string name)
    {
        if (!terms.TokenLoss.shape.SequenceEqual(logp.shape) || terms.TokenLoss.dtype != logp.dtype)
        {
            throw new InvalidOperationException($"{name} returned token losses of shape {TensorGuard.Shape(terms.TokenLoss)} and dtype {terms.TokenLoss.dtype}; expected {TensorGuard.Shape(logp)} and {logp.dtype} (the log-probs').");
        }
    }

    private void Validate(PolicyLossInputs inputs)
    {
        const string layout = "(B, T)";
        Tensor logp = inputs.LogProbs;
        TensorGuard.Floating(logp, nameof(inputs.LogProbs));
        TensorGuard.Rank(logp, nameof(inputs.LogProbs), 2, layout);
        if (logp.shape[0] == 0 || logp.shape[1] == 0)
        {
            throw new ArgumentException($"LogProbs has shape {TensorGuard.Shape(logp)}; a loss step needs at least one sequence and one response column.", nameof(inputs));
        }
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
            throw new ArgumentException($"EntropyCoefficient is {Options.EntropyCoefficient} but Entropy is null; pass the (B, T) token entropy (TokenStatistics.Compute) or set EntropyCoefficient to 0 (LuffyMainRun, and RlWithSftLoss built on it, include LUFFY's entropy bonus of 0.001).", nameof(inputs));
        }
        if (inputs.OffPolicyMask is null && Options.SftCoefficient > 0)
        {
            throw new ArgumentException($"SftCoefficient is {Options.SftCoefficient} but OffPolicyMask is null: the SFT term covers sequences that carry a trace, so without the mask it would train nothing. Pass the batch's (B, T) OffPolicyMask.", nameof(inputs));
        }
        if (inputs.OffPolicyMask is null && !Options.TraceSequencesInPolicyLoss)
        {
            throw new ArgumentException("TraceSequencesInPolicyLoss is false but OffPolicyMask is null: no sequence carries a trace, so the setting would change nothing. Pass the batch's (B, T) OffPolicyMask.", nameof(inputs));
        }
        if (inputs.TraceProbabilities is not null)
        {
            TensorGuard.Companion(inputs.TraceProbabilities, nameof(inputs.TraceProbabilities), logp, nameof(inputs.LogProbs), layout);
            if (Options.Shaping is not RegularizedShaping { Gamma: RegularizedShaping.DefaultGamma })
            {
                throw new ArgumentException($"Shaping is {Options.Shaping.Name} but TraceProbabilities are given: the off-policy ratio is then p/(q + 1e-6) and no shaping applies (the reference's target_probs path). Leave Shaping at its default or drop TraceProbabilities.", nameof(inputs));
            }
        }
        if (inputs.TraceLogProbs is not null)
        {
            TensorGuard.Companion(inputs.TraceLogProbs, nameof(inputs.TraceLogProbs), logp, nameof(inputs.LogProbs), layout);
            if (inputs.TraceProbabilities is not null)
            {
                throw new ArgumentException("Both TraceProbabilities and TraceLogProbs are given: the first makes the off-policy ratio p/(q + 1e-6) unshaped (LUFFY's target_probs path), the second f(p/π_past) (ExGRPO); no reference uses both. Pass one.", nameof(inputs));
            }
            if (inputs.OffPolicyMask is null)
            {
                throw new ArgumentException("TraceLogProbs is given but OffPolicyMask is null: the stored log-probs are read at off-policy tokens only, so they would change nothing. Pass the batch's (B, T) OffPolicyMask.", nameof(inputs));
            }
        }
        if (inputs.RolloutWeights is not null)
        {
            TensorGuard.Companion(inputs.RolloutWeights, nameof(inputs.RolloutWeights), logp, nameof(inputs.LogProbs), layout);
        }
    }

    /// <summary>
    /// The token sets of one step, as bool (B, T) tensors (temporaries of the caller's dispose scope); an empty set may
    /// be an all-false (B, 1) tensor, which broadcasts like (B, T). <see cref="TraceSequences"/> (B, 1) is reduced only
    /// where it is needed (the SFT term, trace sequences left out of the policy loss).
    /// </summary>
    private sealed record Masks(Tensor Response, Tensor Trace, Tensor Policy, Tensor OnPolicy, Tensor OffPolicy, Tensor? TraceSequencesIfKnown)
    {
        /// <summary>The sequences with at least one trace token, (B, 1) bool.</summary>
        public Tensor TraceSequences => TraceSequencesIfKnown ?? Trace.any(1, keepdim: true);

        public static Masks Of(PolicyLossInputs inputs, PolicyLossOptions o)
        {
            Tensor mask = TensorGuard.AsBoolMask(inputs.ResponseMask);
            if (inputs.OffPolicyMask is null)
            {
                // no trace token (validation ensures trace sequences stay in the policy loss): every response token is
                // on-policy; the empty sets are (B, 1), which broadcast as (B, T) would, without a (B, T) pass each
                Tensor none = zeros(mask.shape[0], 1, dtype: ScalarType.Bool, device: mask.device);
                return new Masks(mask, none, mask, mask, none, none);
            }
            Tensor trace = TensorGuard.AsBoolMask(inputs.OffPolicyMask).logical_and(mask);
            if (o.TraceSequencesInPolicyLoss)
            {
                // the policy tokens are the response tokens: off = trace, and on = mask ∧ ¬off = mask ⊕ off (off ⊆ mask)
                return new Masks(mask, trace, mask, mask.logical_xor(trace), trace, null);
            }
            Tensor traceSequences = trace.any(1, keepdim: true);
            Tensor policy = mask.logical_and(traceSequences.logical_not());
            Tensor off = trace.logical_and(policy);
            return new Masks(mask, trace, policy, policy.logical_and(off.logical_not()), off, traceSequences);
        }
    }
}
