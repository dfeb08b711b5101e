using System.Numerics;
using System.Runtime.CompilerServices;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;

namespace Luffy.Objectives.Losses;

internal static unsafe partial class FusedPolicyLoss
{
    /// <summary>The per-token loop over one block of rows; optimized at first call (no tier-0 pass for a kernel called once a step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Accumulator ProcessBlock<T>(KernelArguments<T> a, int block)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Accumulator acc = default;
        int t = a.Columns;
        int end = Math.Min(a.Rows, (block + 1) * RowsPerBlock);
        for (int i = block * RowsPerBlock; i < end; i++)
        {
            int j = 0;
            if (typeof(T) == typeof(float))
            {
                ref KernelArguments<float> floats = ref Unsafe.As<KernelArguments<T>, KernelArguments<float>>(ref a);
                // a body runs only where it has a column to do: its set-up and per-row sums cost about 0.1 µs a row
                // (at (256, 4096) the AVX2 body ran for every row after the AVX-512 one had done all 4096 columns)
                if (a.Lanes >= 16 && t >= 16)
                {
                    j = SimdColumns<FloatLanes512>(floats, i, j, ref acc);
                }
                if (a.Lanes >= 8 && t - j >= 8)
                {
                    j = SimdColumns<FloatLanes256>(floats, i, j, ref acc);
                }
            }
            for (; j < t; j++)
            {
                ScalarToken(a, i, (long)i * t + j, ref acc);
            }
        }
        return acc;
    }

    /// <summary>
    /// Row <paramref name="i"/> from column <paramref name="start"/> at <typeparamref name="TV"/>'s width: the policy terms
    /// in the body of the row's kind, then the regularizers where there are any. Returns the first column not done.
    /// </summary>
    private static int SimdColumns<TV>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
    {
        int done = a.TraceRows[i] ? ByRatio<TV, MixedRow>(a, i, start, ref acc) : ByRatio<TV, OnPolicyRow>(a, i, start, ref acc);
        if (a.Reference is not null || a.Entropy is not null || (a.Sft && a.TraceRows[i]))
        {
            SimdRegularizerRow<TV>(a, i, start, done, ref acc);
        }
        return done;
    }

    /// <summary>The row kind of <see cref="SimdRow{TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, TShape}"/> for a row with no off-policy token: its body has no off-policy code.</summary>
    private readonly struct OnPolicyRow
    {
    }

    /// <summary>
    /// The row kind of <see cref="SimdRow{TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, TShape}"/> for a trace row (off-policy tokens possible). Two bodies, because the JIT
    /// stops inlining the lane operations past its per-method budget, which one body with every path reaches.
    /// </summary>
    private readonly struct MixedRow
    {
    }

    /// <summary>
    /// Whether an option's code is compiled into a row body: <see cref="Present"/> or <see cref="Absent"/> as a type argument
    /// of <see cref="SimdRow{TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, TShape}"/>, whose code of an absent option folds away with its
    /// loop-invariant flags, vectors and accumulators. One body per
    /// combination that runs: the general body spilled intermediates to the stack in its hot loop with AVX2's 16 vector
    /// registers (measured at (256, 4096) on an AMD EPYC Zen 4 with AVX-512 off: the step of the plain options took 0.8×
    /// the general body's time).
    /// </summary>
    private interface IBodyOption
    {
    }

    /// <summary>The body has the option's code (which still checks at run time whether the option is set).</summary>
    private readonly struct Present : IBodyOption
    {
    }

    /// <summary>The body has no code for the option, which is not set.</summary>
    private readonly struct Absent : IBodyOption
    {
    }

    /// <summary>
    /// The on-policy ratio is f(p)/f(p_old) with f(p) = p/(p + γ) (<see cref="RegularizedRatio"/>): the body has that formula
    /// alone, without the loop-invariant flags and constants of the other reshapings, which AVX2's 16 registers cannot hold
    /// beside it.
    /// </summary>
    private readonly struct RegularizedOnly : IBodyOption
    {
    }

    /// <summary>Picks the body for the ratio: the plain e^(log p − old), the regularized f(p)/f(p_old), or any built-in reshaping.</summary>
    private static int ByRatio<TV, TRow>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct =>
        a.General ? ByWeights<TV, TRow, Present>(a, i, start, ref acc) : a.Ratio switch
        {
            RatioKind.Exponential => ByWeights<TV, TRow, Absent>(a, i, start, ref acc),
            RatioKind.Regularized => ByWeights<TV, TRow, RegularizedOnly>(a, i, start, ref acc),
            _ => ByWeights<TV, TRow, Present>(a, i, start, ref acc),
        };

    /// <summary>Picks the body for the rollout-correction weights.</summary>
    private static int ByWeights<TV, TRow, TReshaped>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct
        where TReshaped : struct, IBodyOption =>
        a.General || a.Weights is not null ? ByAllMax<TV, TRow, TReshaped, Present>(a, i, start, ref acc) : ByAllMax<TV, TRow, TReshaped, Absent>(a, i, start, ref acc);

    /// <summary>Picks the body for all-max-clip.</summary>
    private static int ByAllMax<TV, TRow, TReshaped, TWeighted>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct
        where TReshaped : struct, IBodyOption
        where TWeighted : struct, IBodyOption =>
        a.General || a.AllMaxLogBound.HasValue
            ? ByTrace<TV, TRow, TReshaped, TWeighted, Present>(a, i, start, ref acc)
            : ByTrace<TV, TRow, TReshaped, TWeighted, Absent>(a, i, start, ref acc);

    /// <summary>Picks the body for the off-policy tokens' trace probabilities or stored log-probs (mixed rows only).</summary>
    private static int ByTrace<TV, TRow, TReshaped, TWeighted, TAllMax>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct
        where TReshaped : struct, IBodyOption
        where TWeighted : struct, IBodyOption
        where TAllMax : struct, IBodyOption =>
        typeof(TRow) == typeof(MixedRow) && (a.General || a.TraceProbabilities is not null || a.TraceLogProbs is not null)
            ? ByShape<TV, TRow, TReshaped, TWeighted, TAllMax, Present>(a, i, start, ref acc)
            : ByShape<TV, TRow, TReshaped, TWeighted, TAllMax, Absent>(a, i, start, ref acc);

    /// <summary>Picks the body for a shaping with its own exponent or a log term, f = s·p^k [/(p^k + γ)] + w·log p with k ≠ 1 or w ≠ 0 (mixed rows only).</summary>
    private static int ByShape<TV, TRow, TReshaped, TWeighted, TAllMax, TTrace>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct
        where TReshaped : struct, IBodyOption
        where TWeighted : struct, IBodyOption
        where TAllMax : struct, IBodyOption
        where TTrace : struct, IBodyOption =>
        typeof(TRow) == typeof(MixedRow) && (a.General || a.Shape.Exponent != 1 || a.Shape.LogWeight != 0)
            ? SimdRow<TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, Present>(a, i, start, ref acc)
            : SimdRow<TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, Absent>(a, i, start, ref acc);

    /// <summary>
    /// <typeparamref name="TV"/>.Count float32 tokens at a time from column <paramref name="start"/>: the same math as
    /// <see cref="ScalarToken"/>, with row sums kept in float lanes (counts in int lanes) and added to the double
    /// accumulators per row. Masked lanes are cleared (<see cref="IFloatLanes{TSelf}.Where"/>), so garbage (even NaN)
    /// in padding never leaks into sums or gradients. Returns the first column not done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int SimdRow<TV, TRow, TReshaped, TWeighted, TAllMax, TTrace, TShape>(in KernelArguments<float> a, int i, int start, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
        where TRow : struct
        where TReshaped : struct, IBodyOption
        where TWeighted : struct, IBodyOption
        where TAllMax : struct, IBodyOption
        where TTrace : struct, IBodyOption
        where TShape : struct, IBodyOption
    {
        // Whether the body has an option's code is tested as typeof(option) == typeof(Present) in each condition: the JIT
        // folds that while it imports the body, so the code of an absent option is never imported and takes none of the
        // method's inlining budget (a local or a static property is folded only after inlining, too late for that).
        int t = a.Columns;
        long row = (long)i * t;
        float* logProbs = a.LogProbs + row, oldLogProbs = a.Old + row, advantages = a.Advantages + row, gradients = a.Grad + row;
        float* traceProbabilities = a.TraceProbabilities is null ? null : a.TraceProbabilities + row, traceLogProbs = a.TraceLogProbs is null ? null : a.TraceLogProbs + row, weights = a.Weights is null ? null : a.Weights + row;
        bool traceRow = a.TraceRows[i];
        bool* mask = a.Mask + row, offMask = traceRow ? a.Off + row : null;
        bool policyRow = typeof(TRow) == typeof(OnPolicyRow) || a.PolicyOnTraceRows || !traceRow; // folded to true in the on-policy rows' body
        double policyWeight = a.PolicyWeights[i];

        // Loop invariants, hoisted by hand: the JIT does not unswitch loops.
        TV one = TV.Create(1f), zero = default, half = TV.Create(0.5f), allLanes = TV.Equal(zero, zero), nearZeroBound = TV.Create(LaneMath.NearZeroBound);
        TV low = TV.Create((float)a.LowBound), high = TV.Create((float)a.HighBound);
        TV minLog = TV.Create((float)-ExponentialRatio.LogRatioClamp), maxLog = TV.Create((float)ExponentialRatio.LogRatioClamp);
        TV gradientWeight = TV.Create(-(float)policyWeight); // the loss is −weight·(the gain A·q) exactly (a bound-active token gets −0)
        // The built-in ratios and shapes as one formula each (a few loop-invariant flags instead of a switch per kind, which
        // would inline too many exponentials for the JIT: past its budget it stops inlining the lane operations).
        LaneShapes k = LaneShapes.Of(a);
        TV ratioExponent = TV.Create(k.RatioExponent), ratioLogWeight = TV.Create(k.RatioLogWeight), ratioGamma = TV.Create(k.RatioGamma);
        TV inverseRatioGamma = TV.Create((float)(1.0 / k.RatioGamma)); // used only where γ ≠ 0
        TV shapeExponent = TV.Create(k.ShapeExponent), shapeScale = TV.Create(k.ShapeScale), shapeSlope = TV.Create(k.ShapeScale * k.ShapeExponent);
        TV shapeLogWeight = TV.Create(k.ShapeLogWeight), shapeGamma = TV.Create(k.ShapeGamma);
        bool ratioHasExp = k.RatioHasExp, ratioHasLog = k.RatioLogWeight != 0, ratioRegularized = k.RatioGamma != 0;
        bool ratioScaled = k.RatioExponent != 1, ratioInRange = k.RatioExponent * ExponentialRatio.LogRatioClamp <= 87; // exp's argument stays in its range
        TV expLow = TV.Create(-87.9f), expHigh = TV.Create(88.3762626647949f), expRange = TV.Create(87.9f);
        bool shapeHasExp = k.ShapeScale != 0, shapeOwnExp = k.ShapeExponent != 1, shapeHasLog = k.ShapeLogWeight != 0, shapeRational = k.ShapeGamma != 0;
        bool clip = a.Clip, allScope = a.AllScope, hasDual = a.DualBound.HasValue, bounded = clip || hasDual, hasMax = a.MaxClamp.HasValue, hasMin = a.MinClamp.HasValue, hasAllMax = a.AllMaxLogBound.HasValue;
        TV dualBound = TV.Create((float)a.DualBound.GetValueOrDefault()), maxBound = TV.Create((float)a.MaxClamp.GetValueOrDefault());
        TV minBound = TV.Create((float)a.MinClamp.GetValueOrDefault());
        TV allMaxBound = TV.Create((float)a.AllMaxLogBound.GetValueOrDefault()), traceEpsilon = TV.Create((float)MixedPolicyLoss.TraceProbabilityEpsilon);
        TV nan = TV.Create(float.NaN); // an invalid trace probability or rollout weight makes its token NaN
        TV minusInfinity = TV.Create(float.NegativeInfinity), plusInfinity = TV.Create(float.PositiveInfinity);
        TV lowWhereNegative = clip ? low : minusInfinity, highWhereNegative = hasDual ? dualBound : plusInfinity, highWherePositive = clip ? high : plusInfinity;
        // Both upper bounds are positive, so the one of each lane is the larger of the lower one and the other masked by
        // the advantage's sign (two operations instead of a blend, three uops on Intel's cores): the one where A < 0 is the
        // larger unless c < 1 + ε_high or the surrogate is unclipped.
        bool negativeHigher = (hasDual ? a.DualBound.GetValueOrDefault() : double.PositiveInfinity) >= (clip ? a.HighBound : double.PositiveInfinity);
        // a product tie −A·r = −A·c needs r within an ulp of the product's relative rounding of c, and −A·r > −A·c needs r > c
        // (rounding is monotone): lanes with r below c·(1 − 2^-20) have neither
        TV dualGate = TV.Create((float)(a.DualBound.GetValueOrDefault() * (1 - 1.0 / (1 << 20))));

        TV sPolicyGain = zero, sOnGain = zero, sOffGain = zero, sPpoKl = zero, sOnP = zero, sOffP = zero, sRatio = zero;
        TV nOn = zero, nOff = zero, nClipped = zero, nLower = zero, nMax = zero, nMin = zero, nAllMax = zero;
        int j = start;
        for (; j + TV.Count <= t; j += TV.Count)
        {
            if (!TV.AnyTrue(mask + j))
            {
                TV.Store(zero, gradients + j);
                continue;
            }
            TV m = TV.LoadMask(mask + j);
            TV lp = TV.Load(logProbs + j);
            TV gradient = zero;
            if (policyRow)
            {
                TV off = zero, on = m;
                bool anyOff = false;
                if (typeof(TRow) == typeof(MixedRow)) // folded when the JIT imports each row kind's body
                {
                    off = TV.LoadMask(offMask + j) & m;
                    anyOff = TV.Any(off);
                    on = anyOff ? TV.AndNot(m, off) : m;
                }
                TV advantage = TV.Load(advantages + j);
                // A vector of a mixed row whose tokens are all off-policy needs no on-policy ratio unless the metrics count
                // every token (the reference computes it and keeps none of it there): the skipped terms would all be
                // replaced by the off-policy ones, so results are the same bits.
                bool onPart = typeof(TRow) == typeof(OnPolicyRow) || allScope || !anyOff || TV.Any(on);
                TV old = zero, oldP = zero, d = zero, clamped = zero, inside = zero;
                bool nearZero = false, someClamped = false;
                if (onPart)
                {
                    old = TV.Load(oldLogProbs + j);
                    // p_old heads the regularized ratio's longest chain (its division waits for it): there exp's range clamp
                    // runs only in vectors that need it (|log p_old| > 87.9: rare), off that chain. On-policy rows only: in
                    // the mixed rows' body the second exponential put the per-row sums past the JIT's inlining budget.
                    oldP = typeof(TReshaped) == typeof(RegularizedOnly) && typeof(TRow) == typeof(OnPolicyRow) && !TV.AnyGreaterThan(TV.Abs(old), expRange)
                        ? LaneMath.ExpInRange(old)
                        : LaneMath.Exp(old);

                    // on-policy ratio r and ∂r/∂log p (also on off-policy lanes, for the all-token metric scope):
                    // r = e^(k·clamp(d, ±20))·[(p_old + γ)/(p + γ)] + w·d, the bracket for f(p)/f(p_old) only
                    d = lp - old;
                    clamped = d;
                    inside = allLanes;
                    // Every |d| ≤ 0.34 (most vectors): e^d is exp's polynomial alone. Else the clamp, only where some
                    // |d| > 20 (rare): off the exponential's critical path otherwise. A NaN d needs neither: it counts as
                    // inside, so its NaN ratio reaches its derivative, and its loss and gradient are NaN.
                    TV absD = TV.Abs(d);
                    nearZero = !TV.AnyGreaterThan(absD, nearZeroBound);
                    if (!nearZero)
                    {
                        TV outside = TV.GreaterThan(absD, maxLog);
                        if (TV.Any(outside))
                        {
                            clamped = TV.Min(maxLog, TV.Max(minLog, d)); // NaN stays NaN
                            inside = TV.AndNot(allLanes, outside); // the clamp's gradient passes (bounds included)
                            someClamped = true;
                        }
                    }
                }
                // p = e^(log p): needed off-policy; for f(p)/f(p_old) it is ρ·p_old where the log-ratio is not clamped
                // (a vector the clamp skipped has every lane inside)
                bool needP = anyOff || (((typeof(TReshaped) == typeof(Present) && ratioRegularized) || typeof(TReshaped) == typeof(RegularizedOnly)) && someClamped && TV.Any(TV.AndNot(m, inside)));
                TV p = needP ? LaneMath.Exp(lp) : zero;
                // the gain (the loss term's negative: A·q on-policy, A·f off-policy) and its derivative; negating the products
                // rounds them the same, so every loss bit and comparison is the same as on −A (one negation fewer)
                TV gain = zero, dGain = zero;
                if (onPart)
                {
                    TV r = zero, dr = zero;
                    if (typeof(TReshaped) == typeof(Absent) || typeof(TReshaped) == typeof(RegularizedOnly))
                    {
                        // the plain ratio e^d (the clamp keeps exp's argument in range), regularized as the general body does
                        r = nearZero ? LaneMath.ExpNearZero(clamped) : LaneMath.ExpInRange(clamped);
                        if (typeof(TReshaped) == typeof(RegularizedOnly))
                        {
                            r = Regularized(r, needP, p, oldP, ratioGamma, inverseRatioGamma, inside, someClamped, out dr);
                        }
                        else
                        {
                            dr = TV.Where(inside, r);
                        }
                    }
                    else if (ratioHasExp)
                    {
                        TV x = ratioScaled ? ratioExponent * clamped : clamped;
                        r = LaneMath.ExpInRange(ratioInRange ? x : TV.Min(expHigh, TV.Max(expLow, x)));
                        dr = TV.Where(inside, ratioScaled ? ratioExponent * r : r);
                        if (ratioRegularized)
                        {
                            r = Regularized(r, needP, p, oldP, ratioGamma, inverseRatioGamma, inside, someClamped, out dr);
                        }
                    }
                    if (typeof(TReshaped) == typeof(Present) && ratioHasLog)
                    {
                        r = TV.FusedMultiplyAdd(ratioLogWeight, d, r);
                        dr += ratioLogWeight;
                    }
                    // The clipped surrogate max(−A·r, −A·clip(r)), then for A < 0 the dual clip min(·, −A·c), is −A·q for the
                    // ratio clamped to [lo, hi]: lo = 1 − ε_low and hi = c where A < 0, hi = 1 + ε_high where A > 0. Its
                    // gradient is −A·r' where −A·q = −A·r (no bound active; bounds included) and 0 where a bound is active —
                    // halved where −A·r = −A·c, where torch's min splits a tie. Ties are decided on the rounded products, as
                    // the composed ops decide them. A NaN product passes the gradient, so a NaN loss term gets NaN.
                    TV unclippedGain = advantage * r, negative = zero;
                    if (bounded)
                    {
                        negative = TV.LessThan(advantage, zero);
                        // Where A > 0 the lower bound is −∞. The plain and the regularized ratios are ≥ 0 (or NaN), so 0 (a mask
                        // instead of a blend) bounds them as −∞ does: the same q.
                        TV lo = typeof(TReshaped) == typeof(Present) ? TV.Select(negative, lowWhereNegative, minusInfinity) : negative & lowWhereNegative;
                        TV hi = negativeHigher ? TV.Max(highWherePositive, negative & highWhereNegative) : TV.Max(highWhereNegative, TV.AndNot(highWherePositive, negative));
                        TV q = TV.Min(hi, TV.Max(lo, r)); // NaN stays NaN
                        gain = advantage * q;
                        dGain = TV.Where(TV.EqualOrUnordered(gain, unclippedGain), advantage * dr);
                    }
                    else
                    {
                        // no bound to clamp to (LUFFY's main run): the gain A·r and its derivative A·r' (NaN together)
                        gain = unclippedGain;
                        dGain = advantage * dr;
                    }
                    TV scope = allScope ? m : on;
                    if (clip)
                    {
                        // the reference's count, −A·clip(r) > −A·r, on the same rounded products. −A·q is −A·clip(r) wherever
                        // the comparison can hold: the dual clip makes q differ from clip(r) only where A < 0 and r > c, and
                        // there −A·clip(r) < −A·r (with q = c as well) is not counted either way
                        nClipped = TV.CountWhereGreaterThan(nClipped, unclippedGain, gain, scope); // −A·q > −A·r
                    }
                    if (hasDual)
                    {
                        // the count and the tie at −A·r = −A·c where A < 0, only in vectors that have a lane near or past r = c
                        // (c > 1: rare), tested on r masked to those lanes (0 elsewhere, below the gate); a NaN ratio has
                        // neither, and fails the test as it fails the count and the tie
                        TV negativeRatio = negative & r;
                        if (TV.AnyGreaterThan(negativeRatio, dualGate))
                        {
                            TV reached = TV.GreaterThan(negativeRatio, dualGate);
                            TV dualGain = advantage * dualBound;
                            nLower = TV.CountWhere(nLower, reached & TV.GreaterThan(dualGain, unclippedGain) & scope); // −A·r > −A·c
                            dGain = TV.Select(reached & TV.Equal(unclippedGain, dualGain), half * dGain, dGain);
                        }
                    }
                    sPpoKl -= TV.Where(scope, d);
                    sOnP += TV.Where(on, oldP);
                }

                if (typeof(TRow) == typeof(MixedRow) && anyOff)
                {
                    // off-policy ratio: p/(q + 1e-6) with trace probabilities, else the shaping
                    // f = s·p^k [/(p^k + γ) for p/(p + γ)] + w·log p
                    TV f, df;
                    if (typeof(TTrace) == typeof(Present) && traceProbabilities is not null)
                    {
                        TV traceP = TV.Load(traceProbabilities + j);
                        f = TV.Select(TV.LessThan(traceP, zero) | TV.GreaterThan(traceP, one), nan, p / (traceP + traceEpsilon));
                        df = f;
                    }
                    else
                    {
                        // the argument of the power/rational part: log p, or log w = log p − stored with stored behaviour
                        // log-probs (ExGRPO); the log term keeps log p as the reference does
                        TV slp = lp, sp = p;
                        if (typeof(TTrace) == typeof(Present) && traceLogProbs is not null)
                        {
                            TV stored = TV.Load(traceLogProbs + j);
                            slp = TV.Select(TV.GreaterThan(stored, zero), nan, lp - stored); // a positive stored log-prob makes its token NaN
                            sp = LaneMath.Exp(slp);
                        }
                        f = zero;
                        df = zero;
                        if (shapeHasExp)
                        {
                            TV pk = typeof(TShape) == typeof(Present) && shapeOwnExp ? LaneMath.Exp(shapeExponent * slp) : sp;
                            if (shapeRational)
                            {
                                TV inverse = one / (pk + shapeGamma);
                                f = pk * inverse;
                                df = shapeGamma * f * inverse;
                            }
                            else
                            {
                                f = shapeScale * pk;
                                df = shapeSlope * pk;
                            }
                        }
                        if (typeof(TShape) == typeof(Present) && shapeHasLog)
                        {
                            f = TV.FusedMultiplyAdd(shapeLogWeight, lp, f); // log p, also with stored log-probs (the reference's)
                            df += shapeLogWeight;
                        }
                    }
                    sOffP += TV.Where(off, p);
                    if (hasMax)
                    {
                        // torch.clamp passes the gradient at the bound; the clamped value equals the bound from f = max on
                        df = TV.AndNot(df, TV.GreaterThan(f, maxBound));
                        f = TV.Min(maxBound, f); // NaN stays NaN
                        nMax = TV.CountWhere(nMax, TV.Equal(f, maxBound) & off);
                    }
                    if (hasMin)
                    {
                        df = TV.AndNot(df, TV.LessThan(f, minBound));
                        f = TV.Max(minBound, f);
                        nMin = TV.CountWhere(nMin, TV.Equal(f, minBound) & off);
                    }
                    sRatio += TV.Where(off, f);
                    gain = TV.Select(off, advantage * f, gain);
                    dGain = TV.Select(off, advantage * df, dGain);
                }
                if (typeof(TWeighted) == typeof(Present) && weights is not null)
                {
                    TV w = TV.Load(weights + j);
                    w = TV.Select(TV.LessThan(w, zero), nan, w);
                    gain *= w;
                    dGain *= w;
                }
                // A NaN loss term gets a NaN gradient, as with autograd. In the bodies of the plain and the regularized ratio
                // without trace inputs or a shaping of its own, every NaN term already has one: a NaN ratio (log-ratio
                // or old log-prob) has a NaN derivative, the bound's mask passes NaN products, a NaN advantage or rollout
                // weight multiplies both, and the shaping's f and f' are NaN together.
                if (typeof(TReshaped) == typeof(Present) || typeof(TTrace) == typeof(Present) || typeof(TShape) == typeof(Present))
                {
                    dGain = TV.Select(TV.Equal(gain, gain), dGain, gain);
                }
                sOnGain += TV.Where(on, gain);
                if (typeof(TRow) == typeof(MixedRow))
                {
                    nOn = TV.CountWhere(nOn, on); // (an on-policy row's count is its mask's, known per row: below)
                }
                if (typeof(TRow) == typeof(MixedRow) && anyOff)
                {
                    sOffGain += TV.Where(off, gain);
                    nOff = TV.CountWhere(nOff, off);
                }
                if (typeof(TAllMax) == typeof(Present) && hasAllMax)
                {
                    TV over = TV.GreaterThan(lp, allMaxBound) & m;
                    nAllMax = TV.CountWhere(nAllMax, over);
                    sPolicyGain += TV.Where(TV.AndNot(m, over), gain);
                    dGain = TV.AndNot(dGain, over);
                }
                gradient = dGain * gradientWeight;
            }
            TV.Store(TV.Where(m, gradient), gradients + j);
        }

        double onLoss = -TV.Sum(sOnGain), offLoss = -TV.Sum(sOffGain); // a float sum of negated terms is the negated sum
        // an on-policy row's on-policy tokens in [start, j) are its response tokens there: the row's count from the mask
        // pass less the few outside (this body starts at 0, or does the ≤ 15 columns the wider one left)
        long onCount = typeof(TRow) == typeof(MixedRow) ? TV.SumCounts(nOn) : start == 0 ? a.Lengths[i] - CountRow(mask + j, null, t - j, 1, out _) : CountRow(mask + start, null, j - start, 1, out _);
        long offCount = TV.SumCounts(nOff);
        // without all-max-clip every policy lane is either on- or off-policy
        acc.Policy += policyWeight * (typeof(TAllMax) == typeof(Present) && hasAllMax ? -TV.Sum(sPolicyGain) : onLoss + offLoss);
        acc.OnLoss += onLoss;
        acc.OffLoss += offLoss;
        acc.PpoKl += TV.Sum(sPpoKl);
        acc.OffProbability += TV.Sum(sOffP);
        acc.OnProbability += TV.Sum(sOnP);
        acc.RatioSum += TV.Sum(sRatio);
        acc.OnCount += onCount;
        acc.OffCount += offCount;
        acc.Clipped += TV.SumCounts(nClipped);
        acc.ClippedLower += TV.SumCounts(nLower);
        acc.MaxClamped += TV.SumCounts(nMax);
        acc.MinClamped += TV.SumCounts(nMin);
        acc.AllMaxClipped += TV.SumCounts(nAllMax);
        acc.ScopeCount += allScope ? onCount + offCount : onCount;
        return j;
    }

    /// <summary>
    /// f(p)/f(p_old) = ρ·(p_old + γ)/(p + γ) for f(p) = p/(p + γ), from the exponential ratio ρ; <paramref name="dr"/> =
    /// ratio·γ/(p + γ) where ρ's clamp lets its gradient through (<paramref name="inside"/>) and −ratio·p/(p + γ) elsewhere
    /// (only the second factor depends on log p there). p is <paramref name="p"/> = e^(log p) where <paramref name="exact"/>,
    /// else ρ·p_old, the same where the clamp passes (<paramref name="someClamped"/>: whether any lane is outside it; a
    /// masked one may be), whose p + γ is one FMA off p_old's exponential, the longest chain. One division, v = γ/(p + γ),
    /// gives both: the ratio is ρ·v·(p_old/γ + 1) and its derivative ratio·v (γ/(p + γ) computed as it is, not as
    /// 1 − p/(p + γ), which cancels for p ≫ γ). <paramref name="inverseGamma"/> is 1/γ.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Regularized<TV>(TV rho, bool exact, TV p, TV oldP, TV gamma, TV inverseGamma, TV inside, bool someClamped, out TV dr)
        where TV : unmanaged, IFloatLanes<TV>
    {
        TV v = gamma / (exact ? p + gamma : TV.FusedMultiplyAdd(rho, oldP, gamma));
        TV ratio = rho * v * TV.FusedMultiplyAdd(oldP, inverseGamma, TV.Create(1f));
        // past the clamp: −ratio·p/(p + γ) = ratio·(−p/γ)·v
        dr = ratio * (someClamped ? TV.Select(inside, v, -(p * inverseGamma) * v) : v);
        return ratio;
    }

    /// <summary>
    /// The regularizers of the columns [<paramref name="start"/>, <paramref name="end"/>) of a row that <see cref="SimdRow"/>
    /// just did (its gradient is still in L1): the SFT term, the KL penalty (added to the gradient) and the entropy sum. A
    /// method of its own: in one body with the policy terms the JIT would run out of inlining budget.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SimdRegularizerRow<TV>(in KernelArguments<float> a, int i, int start, int end, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
    {
        long row = (long)i * a.Columns;
        float* logProbs = a.LogProbs + row, gradients = a.Grad + row;
        float* references = a.Reference is null ? null : a.Reference + row, entropies = a.Entropy is null ? null : a.Entropy + row;
        bool* mask = a.Mask + row;
        bool sftRow = a.Sft && a.TraceRows[i], klInLoss = a.KlCoefficient > 0;
        double regularizerWeight = a.RegularizerWeights[i];
        TV one = TV.Create(1f), zero = default, half = TV.Create(0.5f), k3Clamp = TV.Create((float)KlDivergence.K3Clamp);
        TV klWeight = TV.Create((float)(a.KlCoefficient * regularizerWeight)), sftGradient = TV.Create((float)a.SftGradient);
        KlEstimator estimator = a.Estimator;
        TV sKl = zero, sEntropy = zero, sSft = zero;
        for (int j = start; j + TV.Count <= end; j += TV.Count)
        {
            if (!TV.AnyTrue(mask + j))
            {
                continue;
            }
            TV m = TV.LoadMask(mask + j);
            TV lp = TV.Load(logProbs + j);
            TV gradient = TV.Load(gradients + j);
            if (sftRow)
            {
                sSft -= TV.Where(m, lp);
                gradient += sftGradient;
            }
            if (references is not null)
            {
                TV kd = lp - TV.Load(references + j), kl, dkl;
                switch (estimator)
                {
                    case KlEstimator.K1:
                        kl = kd;
                        dkl = one;
                        break;
                    case KlEstimator.Absolute:
                        kl = TV.Abs(kd);
                        dkl = TV.Where(TV.GreaterThan(kd, zero), one) - TV.Where(TV.LessThan(kd, zero), one);
                        break;
                    case KlEstimator.K2:
                        kl = half * kd * kd;
                        dkl = kd;
                        break;
                    default:
                    {
                        TV e = LaneMath.Exp(-kd);
                        TV k3 = e + kd - one;
                        TV over = TV.GreaterThan(k3, k3Clamp);
                        kl = TV.Select(over, k3Clamp, k3);
                        dkl = TV.AndNot(one - e, over);
                        break;
                    }
                }
                sKl += TV.Where(m, kl);
                gradient = TV.FusedMultiplyAdd(klWeight, dkl, gradient);
                if (klInLoss)
                {
                    gradient = TV.Select(TV.Equal(kl, kl), gradient, kl); // a NaN KL term gets a NaN gradient
                }
            }
            if (entropies is not null)
            {
                sEntropy += TV.Where(m, TV.Load(entropies + j));
            }
            TV.Store(TV.Where(m, gradient), gradients + j);
        }
        double klSum = TV.Sum(sKl), entropySum = TV.Sum(sEntropy);
        acc.Kl += regularizerWeight * klSum;
        acc.KlRaw += klSum;
        acc.Entropy += regularizerWeight * entropySum;
        acc.EntropyRaw += entropySum;
        acc.SftSum += TV.Sum(sSft);
    }
}
