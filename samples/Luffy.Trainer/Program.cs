using Luffy.Trainer;

return await TrainerApp.RunAsync(args);
