using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Tokens;

/// <summary>
/// Custom autograd function: log-probs and entropies from logits processed <c>chunk</c> rows at a time, in the
/// forward pass and again in the backward pass, so the extra memory beyond the logits and their gradient is
/// O(chunk·V) instead of O(B·T·V). Backward: ∂logp/∂z = onehot − s, ∂H/∂z = −s ⊙ (z − E_s[z]), each divided by τ.
/// </summary>
internal sealed class ChunkedTokenStatisticsFunction : autograd.MultiTensorFunction<ChunkedTokenStatisticsFunction>
{
    private static readonly bool[] TensorInputs = [true, true, false, false];

    public override string Name => "LuffyChunkedTokenStatistics";

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var logits = (Tensor)vars[0];
        var tokenIds = (Tensor)vars[1];
        long chunk = (long)vars[2];
        double temperature = (double)vars[3];
        long vocabulary = logits.shape[2];
        Tensor flat = logits.reshape(-1, vocabulary);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor logProbs = empty(rows, dtype: logits.dtype, device: logits.device);
        Tensor entropy = empty(rows, dtype: logits.dtype, device: logits.device);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            ChunkMath.Forward(flat.narrow(0, start, length) / temperature, ids.narrow(0, start, length), logProbs.narrow(0, start, length), entropy.narrow(0, start, length));
        }
        // Unused outputs arrive as undefined gradients (handled in backward). Materializing them would make
        // TorchSharp call zeros_like on the cached forward outputs, which the caller's dispose scope may have freed.
        ctx.set_materialize_grads(false);
        ctx.save_for_backward([logits, tokenIds]);
        ctx.save_data("chunk", chunk);
        ctx.save_data("temperature", temperature);
        return [logProbs.reshape(tokenIds.shape), entropy.reshape(tokenIds.shape)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs) =>
        AutogradSafety.Backward(Name, TensorInputs, () => Backward(ctx, grad_outputs));

    private static List<Tensor> Backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor logits = saved[0];
        Tensor tokenIds = saved[1];
        long chunk = (long)ctx.get_data("chunk");
        double temperature = (double)ctx.get_data("temperature");
        long vocabulary = logits.shape[2];
        Tensor flat = logits.reshape(-1, vocabulary);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor gradLogProbs = ChunkMath.Defined(grad_outputs[0], rows, logits);
        Tensor gradEntropy = ChunkMath.Defined(grad_outputs[1], rows, logits);
        Tensor grad = empty_like(flat);
        for (long start = 0; start < rows; start += chunk)
        {
            long length = Math.Min(chunk, rows - start);
            using var scope = NewDisposeScope();
            Tensor z = flat.narrow(0, start, length) / temperature;
            grad.narrow(0, start, length).copy_(ChunkMath.Gradient(z, ids.narrow(0, start, length), gradLogProbs.narrow(0, start, length), gradEntropy.narrow(0, start, length), temperature));
        }
        return [grad.reshape(logits.shape), null!, null!, null!];
    }
}
