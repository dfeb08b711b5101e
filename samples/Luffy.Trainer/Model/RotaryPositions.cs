using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>Rotary position embeddings (RoPE): queries and keys are rotated by angles proportional to their positions, so attention sees relative positions only.</summary>
internal static class RotaryPositions
{
    /// <summary>
    /// cos and the signed sin of the rotary angles, (B, 1, T, D) each in <paramref name="dtype"/>; angles are computed in
    /// float32. The signed sin is −sin on the first half of the dimensions and sin on the second, so that
    /// <see cref="Apply"/> rotates by a roll instead of rotate_half's negate and concatenate.
    /// </summary>
    public static (Tensor Cos, Tensor SignedSin) Angles(Tensor positionIds, int headDim, double theta, ScalarType dtype)
    {
        Tensor inverseFrequency = 1.0f / pow(theta, arange(0, headDim, 2, ScalarType.Int64, positionIds.device).to_type(ScalarType.Float32) / headDim);
        Tensor angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * inverseFrequency; // (B, T, D/2)
        Tensor both = cat([angles, angles], -1).unsqueeze(1);
        Tensor sin = both.sin().to_type(dtype);
        long half = headDim / 2;
        return (both.cos().to_type(dtype), cat([-sin.narrow(-1, 0, half), sin.narrow(-1, half, half)], -1));
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin for (…, T, D) queries or keys (any leading dimensions that broadcast against the
    /// angles'), where rotate_half(x) = [−x₂, x₁]: the same numbers as roll(x, D/2)·signed sin = [x₂·(−sin), x₁·sin],
    /// since a sign moves exactly between the factors.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin) => x * cos + x.roll(x.shape[^1] / 2, -1) * signedSin;
}
