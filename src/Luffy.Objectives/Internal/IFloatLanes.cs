namespace Luffy.Objectives.Internal;

/// <summary>
/// A SIMD register of float32 lanes, so that one kernel body serves AVX2 (8 lanes) and AVX-512 (16 lanes); the JIT
/// specializes generic code per struct and inlines every member. Masks are lanes with all bits set (true) or clear
/// (false); count registers hold int32 lanes. <see cref="Min"/> and <see cref="Max"/> are the native instructions:
/// when either input is NaN they return the right operand, so put the value that must propagate NaN second.
/// </summary>
/// <typeparam name="TSelf">The implementing register type.</typeparam>
internal unsafe interface IFloatLanes<TSelf>
    where TSelf : unmanaged, IFloatLanes<TSelf>
{
    /// <summary>Number of float32 lanes.</summary>
    static abstract int Count { get; }

    /// <summary>Whether the hardware runs this width natively (and has FMA).</summary>
    static abstract bool IsAccelerated { get; }

    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TSelf Create(float value);

    /// <summary>Loads <see cref="Count"/> floats.</summary>
    static abstract TSelf Load(float* source);

    /// <summary>Stores <see cref="Count"/> floats.</summary>
    static abstract void Store(TSelf value, float* destination);

    /// <summary>
    /// Loads <see cref="Count"/> bools as a mask. Each byte is 0 or 1, as .NET and torch store bools (a bool tensor's
    /// elements are 0 or 1 whatever made them).
    /// </summary>
    static abstract TSelf LoadMask(bool* source);

    /// <summary>Whether any lane of a mask is true.</summary>
    static abstract bool Any(TSelf mask);

    /// <summary>
    /// Whether any lane has <paramref name="left"/> &gt; <paramref name="right"/> (false where either is NaN):
    /// <c>Any(GreaterThan(left, right))</c> in one comparison and a mask test, without the mask as a vector (AVX-512
    /// otherwise widens its mask register to a vector and back).
    /// </summary>
    static abstract bool AnyGreaterThan(TSelf left, TSelf right);

    /// <summary>Whether any of <see cref="Count"/> bools is true (scalar loads: no vector port).</summary>
    static abstract bool AnyTrue(bool* source);

    /// <summary>Sum of the lanes.</summary>
    static abstract float Sum(TSelf value);

    /// <summary>A count register plus one in each lane where <paramref name="mask"/> is true.</summary>
    static abstract TSelf CountWhere(TSelf counts, TSelf mask);

    /// <summary>
    /// <c>CountWhere(counts, GreaterThan(left, right) &amp; mask)</c>: AVX-512 subtracts the mask under the comparison's
    /// mask register (two operations, not four).
    /// </summary>
    static abstract TSelf CountWhereGreaterThan(TSelf counts, TSelf left, TSelf right, TSelf mask);

    /// <summary>Sum of the int32 lanes of a count register.</summary>
    static abstract long SumCounts(TSelf counts);

    /// <summary><paramref name="left"/> AND NOT <paramref name="right"/>.</summary>
    static abstract TSelf AndNot(TSelf left, TSelf right);

    /// <summary>
    /// Per lane: <paramref name="value"/> where <paramref name="mask"/> is true, else 0 (an AND for AVX2; zero-masking
    /// for AVX-512, which keeps comparison results in mask registers).
    /// </summary>
    static abstract TSelf Where(TSelf mask, TSelf value);

    /// <summary>
    /// Per lane: <paramref name="whenTrue"/> where <paramref name="mask"/> is true, else <paramref name="whenFalse"/>. A mask
    /// lane is all ones or all zeros (a comparison, a loaded mask, or their bitwise combinations); AVX2 blends on its sign bit
    /// (one instruction, where a bitwise select takes three).
    /// </summary>
    static abstract TSelf Select(TSelf mask, TSelf whenTrue, TSelf whenFalse);

    /// <summary>Native minimum (returns <paramref name="right"/> when either is NaN).</summary>
    static abstract TSelf Min(TSelf left, TSelf right);

    /// <summary>Native maximum (returns <paramref name="right"/> when either is NaN).</summary>
    static abstract TSelf Max(TSelf left, TSelf right);

    /// <summary>Absolute value.</summary>
    static abstract TSelf Abs(TSelf value);

    /// <summary>a·b + c with one rounding.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>
    /// value · 2^n for integral <paramref name="n"/> in [−127, 128] (−127 gives 0 or a denormal, 128 gives ∞ for value ≥ 1),
    /// where <paramref name="shifted"/> = n + <see cref="LaneMath.Shifter"/> exactly: a width takes whichever is cheaper
    /// (AVX-512 scales by n; AVX2 shifts the shifted sum's low bits, n + 127, into 2^n's exponent field).
    /// </summary>
    static abstract TSelf ScaleByPowerOfTwo(TSelf value, TSelf n, TSelf shifted);

    /// <summary>Mask of left = right.</summary>
    static abstract TSelf Equal(TSelf left, TSelf right);

    /// <summary>Mask of left = right or either NaN (unordered).</summary>
    static abstract TSelf EqualOrUnordered(TSelf left, TSelf right);

    /// <summary>Mask of left &lt; right.</summary>
    static abstract TSelf LessThan(TSelf left, TSelf right);

    /// <summary>Mask of left &gt; right.</summary>
    static abstract TSelf GreaterThan(TSelf left, TSelf right);

    /// <summary>Lane-wise sum.</summary>
    static abstract TSelf operator +(TSelf left, TSelf right);

    /// <summary>Lane-wise difference.</summary>
    static abstract TSelf operator -(TSelf left, TSelf right);

    /// <summary>Lane-wise product.</summary>
    static abstract TSelf operator *(TSelf left, TSelf right);

    /// <summary>Lane-wise quotient.</summary>
    static abstract TSelf operator /(TSelf left, TSelf right);

    /// <summary>Lane-wise negation.</summary>
    static abstract TSelf operator -(TSelf value);

    /// <summary>Bitwise AND (masks: both).</summary>
    static abstract TSelf operator &(TSelf left, TSelf right);

    /// <summary>Bitwise OR (masks: either).</summary>
    static abstract TSelf operator |(TSelf left, TSelf right);
}
