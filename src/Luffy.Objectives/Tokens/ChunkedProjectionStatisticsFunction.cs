using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>
/// Custom autograd function: log-probs and entropies from hidden states h (N, H) and the output projection W (V, H)
/// without ever materializing the (N, V) logits: each chunk of rows computes z = h·Wᵀ/τ, uses it and drops it, in the
/// forward and again in the backward pass. Extra memory is O(chunk·V); the gradients are
/// ∂/∂h = g_z·W and ∂/∂W = Σ_chunks g_zᵀ·h with g_z = g_lp·(onehot − s) − g_H·s ⊙ (z − E_s[z]), divided by τ.
/// </summary>
internal sealed class ChunkedProjectionStatisticsFunction : autograd.MultiTensorFunction<ChunkedProjectionStatisticsFunction>
{
    private static readonly bool[] TensorInputs = [true, true, true, false, false];

    public override string Name => "LuffyChunkedProjectionTokenStatistics";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var hidden = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        var tokenIds = (Tensor)vars[2];
        long chunk = (long)vars[3];
        double temperature = (double)vars[4];
        Tensor flat = hidden.reshape(-1, hidden.shape[^1]);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor logProbs = empty(rows, dtype: hidden.dtype, device: hidden.device);
        Tensor entropy = empty(rows, dtype: hidden.dtype, device: hidden.device);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            Tensor z = flat.narrow(0, start, length).matmul(weight.t());
            if (temperature != 1.0)
            {
                z.div_(temperature);
            }
            ChunkMath.Forward(z, ids.narrow(0, start, length), logProbs.narrow(0, start, length), entropy.narrow(0, start, length));
        }
        ctx.set_materialize_grads(false);
        ctx.save_for_backward([hidden, weight, tokenIds]);
        ctx.save_data("chunk", chunk);
        ctx.save_data("temperature", temperature);
        return [logProbs.reshape(tokenIds.shape), entropy.reshape(tokenIds.shape)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs) =>
        AutogradSafety.Backward(Name, TensorInputs, () => Backward(ctx, grad_outputs));

    private static List<Tensor> Backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor hidden = saved[0], weight = saved[1], tokenIds = saved[2];
        long chunk = (long)ctx.get_data("chunk");
        double temperature = (double)ctx.get_data("temperature");
        Tensor flat = hidden.reshape(-1, hidden.shape[^1]);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor gradLogProbs = ChunkMath.Defined(grad_outputs[0], rows, hidden);
        Tensor gradEntropy = ChunkMath.Defined(grad_outputs[1], rows, hidden);
        Tensor gradHidden = empty_like(flat);
        Tensor gradWeight = zeros_like(weight);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            Tensor h = flat.narrow(0, start, length);
            Tensor z = h.matmul(weight.t());
            if (temperature != 1.0)
            {
                z.div_(temperature);
            }
            Tensor g = ChunkMath.Gradient(z, ids.narrow(0, start, length), gradLogProbs.narrow(0, start, length), gradEntropy.narrow(0, start, length), temperature);
            gradHidden.narrow(0, start, length).copy_(g.matmul(weight));
            gradWeight.addmm_(g.t(), h, 1, 1); // in place: no (V, H) temporary per chunk
        }
        return [gradHidden.reshape(hidden.shape), gradWeight, null!, null!, null!];
    }
}
