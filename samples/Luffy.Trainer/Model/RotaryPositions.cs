using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>Rotary position embeddings (RoPE): queries and keys are rotated by angles proportional to their positions, so attention sees relative positions only.</summary>
internal static class RotaryPositions
{
    /// <summary>cos and sin of the rotary angles, (B, 1, T, D) each in <paramref name="dtype"/>; angles are computed in float32.</summary>
    public static (Tensor Cos, Tensor Sin) Angles(Tensor positionIds, int headDim, double theta, ScalarType dtype)
    {
        Tensor inverseFrequency = 1.0f / pow(theta, arange(0, headDim, 2, ScalarType.Int64, positionIds.device).to_type(ScalarType.Float32) / headDim);
        Tensor angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * inverseFrequency; // (B, T, D/2)
        Tensor both = cat([angles, angles], -1).unsqueeze(1);
        return (both.cos().to_type(dtype), both.sin().to_type(dtype));
    }

    /// <summary>x·cos + rotate_half(x)·sin, for (B, heads, T, D) queries or keys.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin) => x * cos + RotateHalf(x) * sin;

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }
}
