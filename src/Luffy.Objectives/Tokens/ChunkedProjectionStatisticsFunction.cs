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
            Tensor logSumExp = z.logsumexp(1, keepdim: true);
            Tensor probabilities = (z - logSumExp).exp();
            logProbs.narrow(0, start, length).copy_(z.gather(1, ids.narrow(0, start, length).unsqueeze(1)).squeeze(1) - logSumExp.squeeze(1));
            entropy.narrow(0, start, length).copy_(logSumExp.squeeze(1) - (probabilities * z).sum(1));
        }
        ctx.set_materialize_grads(false);
        ctx.save_for_backward([hidden, weight, tokenIds]);
        ctx.save_data("chunk", chunk);
        ctx.save_data("temperature", temperature);
        return [logProbs.reshape(tokenIds.shape), entropy.reshape(tokenIds.shape)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor hidden = saved[0], weight = saved[1], tokenIds = saved[2];
        long chunk = (long)ctx.get_data("chunk");
        double temperature = (double)ctx.get_data("temperature");
        Tensor flat = hidden.reshape(-1, hidden.shape[^1]);
        Tensor ids = tokenIds.reshape(-1);
        long rows = flat.shape[0];
        Tensor gradLogProbs = Defined(grad_outputs[0]) ? grad_outputs[0].reshape(-1) : zeros(rows, dtype: hidden.dtype, device: hidden.device);
        Tensor gradEntropy = Defined(grad_outputs[1]) ? grad_outputs[1].reshape(-1) : zeros(rows, dtype: hidden.dtype, device: hidden.device);
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
            Tensor probabilities = (z - z.logsumexp(1, keepdim: true)).exp();
            Tensor expectedLogit = (probabilities * z).sum(1, keepdim: true);
            Tensor gLogProbs = gradLogProbs.narrow(0, start, length).unsqueeze(1);
            Tensor gEntropy = gradEntropy.narrow(0, start, length).unsqueeze(1);
            Tensor g = z.sub_(expectedLogit).mul_(gEntropy).add_(gLogProbs).mul_(probabilities).neg_();
            g = g.scatter_add(1, ids.narrow(0, start, length).unsqueeze(1), gLogProbs);
            if (temperature != 1.0)
            {
                g.div_(temperature);
            }
            gradHidden.narrow(0, start, length).copy_(g.matmul(weight));
            gradWeight.add_(g.t().matmul(h));
        }
        return [gradHidden.reshape(hidden.shape), gradWeight, null!, null!, null!];
    }

    private static bool Defined(Tensor? t) => t is not null && !t.IsInvalid;
}
