using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

internal static partial class FusedPolicyLoss
{
    /// <summary>
    /// The autograd node: forward runs the kernel and saves the input views with the node (so the graph keeps them
    /// however the result is disposed), backward hands over (or scales) the cached gradients. Backward must not throw
    /// (an exception would cross the native callback and end the process). It unpacks the saved inputs first, which
    /// checks their versions: an input modified in place since the forward pass (whose gradient would belong to other
    /// data) fails there, and <see cref="AutogradSafety.Backward"/> turns that, like anything unforeseen, into a
    /// catchable autograd error ("returned an invalid gradient"), with the cause on standard error.
    /// </summary>
    private sealed class FusedFunction : autograd.SingleTensorFunction<FusedFunction>
    {
        public override string Name => "LuffyFusedMixedPolicyLoss";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var state = (State)vars[2];
            ctx.save_data("state", state);
            ctx.save_data("inputs", new[] { true, vars[1] is Tensor, false });
            ctx.save_for_backward(state.SavedTensors);
            return state.Run();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var state = (State)ctx.get_data("state");
            return AutogradSafety.Backward(Name, (bool[])ctx.get_data("inputs"), () =>
            {
                List<Tensor> saved = ctx.get_saved_variables(); // throws (caught above) if an input was modified in place
                if (state.Released)
                {
                    state.Rebind(saved);
                }
                Tensor gradLogProbs = state.LogProbsRequireGrad ? state.GradientFor(grad_output) : null!;
                Tensor? gradEntropy = state.NeedsEntropyGradient ? state.GradEntropy(grad_output) : null;
                state.BackwardDone(saved);
                grad_output.Dispose(); // TorchSharp's wrapper for this call; nothing reads it afterwards
                return [gradLogProbs, gradEntropy!, null!];
            });
        }
    }
}
