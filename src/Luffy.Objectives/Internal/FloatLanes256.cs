using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Luffy.Objectives.Internal;

/// <summary>Eight float32 lanes (AVX2 + FMA).</summary>
internal readonly unsafe struct FloatLanes256 : IFloatLanes<FloatLanes256>
{
    private readonly Vector256<float> value;

    private FloatLanes256(Vector256<float> value) => this.value = value;

    public static int Count => Vector256<float>.Count;

    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Create(float value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Load(float* source) => new(Vector256.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(FloatLanes256 value, float* destination) => value.value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 LoadMask(bool* source) => new(Vector256.GreaterThan(Avx2.ConvertToVector256Int32((byte*)source), Vector256<int>.Zero).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Any(FloatLanes256 mask) => Vector256.ExtractMostSignificantBits(mask.value) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThan(FloatLanes256 left, FloatLanes256 right) => Vector256.GreaterThanAny(left.value, right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyTrue(bool* source) => *(ulong*)source != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(FloatLanes256 value) => Vector256.Sum(value.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 CountWhere(FloatLanes256 counts, FloatLanes256 mask) => new((counts.value.AsInt32() - mask.value.AsInt32()).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 CountWhereGreaterThan(FloatLanes256 counts, FloatLanes256 left, FloatLanes256 right, FloatLanes256 mask) =>
        CountWhere(counts, new(Vector256.GreaterThan(left.value, right.value) & mask.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SumCounts(FloatLanes256 counts) => Vector256.Sum(Vector256.WidenLower(counts.value.AsInt32()) + Vector256.WidenUpper(counts.value.AsInt32()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 AndNot(FloatLanes256 left, FloatLanes256 right) => new(Vector256.AndNot(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Where(FloatLanes256 mask, FloatLanes256 value) => new(mask.value & value.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Select(FloatLanes256 mask, FloatLanes256 whenTrue, FloatLanes256 whenFalse) => new(Avx.BlendVariable(whenFalse.value, whenTrue.value, mask.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Min(FloatLanes256 left, FloatLanes256 right) => new(Vector256.MinNative(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Max(FloatLanes256 left, FloatLanes256 right) => new(Vector256.MaxNative(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Abs(FloatLanes256 value) => new(Vector256.Abs(value.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 FusedMultiplyAdd(FloatLanes256 a, FloatLanes256 b, FloatLanes256 c) => new(Vector256.FusedMultiplyAdd(a.value, b.value, c.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 ScaleByPowerOfTwo(FloatLanes256 value, FloatLanes256 n, FloatLanes256 shifted) =>
        // 2^n from its exponent field n + 127, the shifted sum's low bits (the shifter's high bits vanish in the shift)
        new(value.value * (shifted.value.AsInt32() << 23).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 Equal(FloatLanes256 left, FloatLanes256 right) => new(Vector256.Equals(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 EqualOrUnordered(FloatLanes256 left, FloatLanes256 right) => new(Avx.Compare(left.value, right.value, FloatComparisonMode.UnorderedEqualNonSignaling));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 LessThan(FloatLanes256 left, FloatLanes256 right) => new(Vector256.LessThan(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 GreaterThan(FloatLanes256 left, FloatLanes256 right) => new(Vector256.GreaterThan(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator +(FloatLanes256 left, FloatLanes256 right) => new(left.value + right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator -(FloatLanes256 left, FloatLanes256 right) => new(left.value - right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator *(FloatLanes256 left, FloatLanes256 right) => new(left.value * right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator /(FloatLanes256 left, FloatLanes256 right) => new(left.value / right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator -(FloatLanes256 value) => new(-value.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator &(FloatLanes256 left, FloatLanes256 right) => new(left.value & right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes256 operator |(FloatLanes256 left, FloatLanes256 right) => new(left.value | right.value);
}
